#!/usr/bin/python3
"""Golden values for the residual tests of tests/check_encoder.c.

Run with /usr/bin/python3 (torch 1.13):  /usr/bin/python3 tests/gen_resnet.py
Writes tests/data/resnet_golden.txt, one array per line: "name count v0 v1 ...".

Network (batch 4, input 3 x 8 x 8), computed in float64:
  stem     conv3x3(3->4, no bias) BN ReLU
  block 1  conv3x3(4->4) BN ReLU conv3x3(4->4) BN, + identity, ReLU
  block 2  conv3x3(4->8, stride 2) BN ReLU conv3x3(8->8) BN,
           + projection (conv1x1(4->8, stride 2, no bias) BN), ReLU
  head     global average pool, Linear(8, 5)
BN eps 1e-5 momentum 0.1 (the projection's: eps 1e-3, momentum 0.2, so a
mix-up of the two would show). Parameters are listed in libcontrastive's flat
order, which is the modules' registration order below (PyTorch's state_dict
order without the running statistics).
"""
import os
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(13)
torch.set_default_dtype(torch.float64)
out_lines = []


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    out_lines.append(name + " " + str(len(v)) + " " + " ".join("%.17g" % x for x in v))


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout, eps=1e-3, momentum=0.2))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (x if self.down is None else self.down(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = conv3(3, 4)
        self.bn = nn.BatchNorm2d(4)
        self.b1 = Block(4, 4, 1)
        self.b2 = Block(4, 8, 2)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        h = self.b2(self.b1(h))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


net = Net()
bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
with torch.no_grad():  # non-trivial affine parameters and running statistics
    for bn in bns:
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.3, 0.3)
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
params = [p for p in net.parameters()]
x = torch.randn(4, 3, 8, 8)
dy = torch.randn(4, 5)
emit("x", x)
emit("dy", dy)
emit("params", torch.cat([p.reshape(-1) for p in params]))
emit("stats0", torch.cat([torch.cat([b.running_mean, b.running_var]) for b in bns]))

net.train()
xr = x.clone().requires_grad_(True)
y = net(xr)
y.backward(dy)
emit("y_train", y)
emit("dx", xr.grad)
emit("grads", torch.cat([p.grad.reshape(-1) for p in params]))
emit("stats", torch.cat([torch.cat([b.running_mean, b.running_var]) for b in bns]))
net.eval()
with torch.no_grad():
    emit("y_eval", net(x))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "resnet_golden.txt")
with open(path, "w") as f:
    f.write("\n".join(out_lines) + "\n")
