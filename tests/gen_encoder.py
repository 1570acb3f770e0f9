#!/usr/bin/python3
"""Golden values for tests/check_encoder.c and tests/check_optimizer.c.

Run with /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tests/gen_encoder.py
Writes tests/data/encoder_golden.txt, one array per line: "name count v0 v1 ...".

Network (batch 6): Linear(20,16) BN(16) ReLU Linear(16,16) BN(16) GELU
Linear(16,8) L2-normalise; BN eps 1e-5 momentum 0.1. Parameters are listed in
libcontrastive's flat order (weight, bias per layer; BN gamma, beta).
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float32)
out_lines = []


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    out_lines.append(name + " " + str(len(v)) + " " + " ".join("%.9g" % x for x in v))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(20, 16)
        self.bn1 = nn.BatchNorm1d(16, eps=1e-5, momentum=0.1)
        self.l2 = nn.Linear(16, 16)
        self.bn2 = nn.BatchNorm1d(16, eps=1e-5, momentum=0.1)
        self.l3 = nn.Linear(16, 8)

    def forward(self, x):
        h = F.relu(self.bn1(self.l1(x)))
        h = F.gelu(self.bn2(self.l2(h)))
        return F.normalize(self.l3(h), dim=1, eps=1e-12)

    def flat(self):
        return [self.l1.weight, self.l1.bias, self.bn1.weight, self.bn1.bias,
                self.l2.weight, self.l2.bias, self.bn2.weight, self.bn2.bias,
                self.l3.weight, self.l3.bias]

    def stats(self):
        return [self.bn1.running_mean, self.bn1.running_var,
                self.bn2.running_mean, self.bn2.running_var]


net = Net()
with torch.no_grad():  # non-trivial BN affine parameters
    for bn in (net.bn1, net.bn2):
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
x = torch.randn(6, 20)
dy = torch.randn(6, 8)
emit("x", x)
emit("dy", dy)
emit("params", torch.cat([p.reshape(-1) for p in net.flat()]))

net.train()
xr = x.clone().requires_grad_(True)
y = net(xr)
y.backward(dy)
emit("y_train", y)
emit("dx", xr.grad)
grads = [p.grad.clone() for p in net.flat()]
emit("grads", torch.cat([g.reshape(-1) for g in grads]))
emit("stats", torch.cat([s.reshape(-1) for s in net.stats()]))
net.eval()
with torch.no_grad():
    emit("y_eval", net(x))

# ---- optimizers: two steps with the same gradients ------------------------
start = [p.detach().clone() for p in net.flat()]
# which tensors are weights (adapted/decayed by LARS): linear weights only
is_weight = [True, False, False, False, True, False, False, False, True, False]


def run_torch(make_opt):
    params = [s.clone().requires_grad_(True) for s in start]
    opt = make_opt(params)
    for _ in range(2):
        for p, g in zip(params, grads):
            p.grad = g.clone()
        opt.step()
    return torch.cat([p.detach().reshape(-1) for p in params])


emit("sgd", run_torch(lambda ps: torch.optim.SGD(
    ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)))
emit("sgd_plain", run_torch(lambda ps: torch.optim.SGD(
    ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=1e-3)))
emit("adamw", run_torch(lambda ps: torch.optim.AdamW(
    ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)))


def lars(lr=0.5, momentum=0.9, wd=1e-4, eta=0.001):
    """SimCLR's LARS (classic momentum, no Nesterov) written with torch ops."""
    params = [s.clone() for s in start]
    bufs = [torch.zeros_like(s) for s in start]
    for _ in range(2):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g.clone()
            trust = torch.tensor(1.0)
            if is_weight[i]:
                g = g + wd * p
                wn, gn = torch.norm(p), torch.norm(g)
                trust = torch.where(wn > 0, torch.where(gn > 0, eta * wn / gn,
                                    torch.tensor(1.0)), torch.tensor(1.0))
            bufs[i] = momentum * bufs[i] + lr * trust * g
            params[i] = p - bufs[i]
    return torch.cat([p.reshape(-1) for p in params])


emit("lars", lars())

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                    "encoder_golden.txt")
with open(path, "w") as f:
    f.write("\n".join(out_lines) + "\n")
print("wrote", path)
