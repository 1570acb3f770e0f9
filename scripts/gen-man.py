#!/usr/bin/env python3
"""gen-man.py - the reference manual (section 3) from the public headers.

    python3 scripts/gen-man.py OUTDIR      write OUTDIR/man3/*.3
    python3 scripts/gen-man.py --list      print the page names, one a line

The headers are the manual (docs/conventions.md); this script only lays
their comments out as man pages, so the two cannot drift. It reads
include/contrastive.h and the sub-headers it includes (then any other
include/contrastive/*.h), in that order, and writes:

  contrastive(3)      the overview: the top comment of contrastive.h, the
                      objects, the status codes and other constants, the
                      functions of contrastive.h (libcontrastive(3) is a
                      link to it);
  ctr_<object>(3)     one per sub-header (contrastive/<object>.h): its top
                      comment, the handle type, every prototype, its
                      constants with their comments, and its functions;
  ctr_<type>(3)       one per documented struct type (ctr_allocator);
  <function>(3)       one per documented group of declarations: a comment
                      followed by one or more CTR_API declarations. The
                      page is named after the first function; the others
                      get a .so link page to it.

Comment layout that is understood: blank lines separate paragraphs; lines
"- item" (any indent) are bullets, continued by deeper lines; "term: text"
at the margin continued by indented lines is a tagged paragraph; other
indented lines are shown as they are (formulas, examples). Everything else
is filled text. Known function names are set in bold, `quoted` words in
italics. A CTR_API declaration without a comment still gets a page, which
says so; scripts/check-man.sh fails on such a page, on an exported symbol
without a page, and on any groff warning.
"""
import os
import re
import sys
import unicodedata

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TOP = os.path.join("include", "contrastive.h")
MANUAL = "libcontrastive Manual"


# ---- reading the headers ----------------------------------------------------

def header_files():
    """contrastive.h, its sub-headers in include order, then any others."""
    top = os.path.join(ROOT, TOP)
    with open(top, encoding="utf-8") as f:
        text = f.read()
    subs = re.findall(r'^#include "(contrastive/[A-Za-z0-9_]+\.h)"', text, re.M)
    files = [TOP] + [os.path.join("include", s) for s in subs]
    sub_dir = os.path.join(ROOT, "include", "contrastive")
    if os.path.isdir(sub_dir):
        for name in sorted(os.listdir(sub_dir)):
            rel = os.path.join("include", "contrastive", name)
            if name.endswith(".h") and rel not in files:
                files.append(rel)
    return files


def comment_lines(raw):
    """The text lines of a /* ... */ comment, '*' margins removed."""
    body = raw[2:-2]
    lines = body.split("\n")
    out = []
    for i, line in enumerate(lines):
        line = line.rstrip()
        if i == 0:
            line = line.lstrip()
        else:
            m = re.match(r"^\s*\*(?!/)( ?)(.*)$", line)
            if m:
                line = m.group(2)
            else:
                line = line.strip()
        out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return out


def tokenize(text):
    """Split a header into a list of items, in order:
    ("comment", lines, blank_after), ("decl", text), ("define", name, value,
    trailing comment), ("typedef", name, text), ("blank",), ("other", text).
    """
    items = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise SystemExit("gen-man: unterminated comment")
            raw = text[i:j + 2]
            i = j + 2
            items.append(["comment", comment_lines(raw)])
            continue
        if text[i] == "\n":
            # a blank line (two newlines with only spaces between)
            k = i + 1
            while k < n and text[k] in " \t":
                k += 1
            if k < n and text[k] == "\n":
                items.append(["blank"])
                i = k
                continue
            i += 1
            continue
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            # preprocessor line, with backslash continuations
            j = i
            while True:
                e = text.find("\n", j)
                if e < 0:
                    e = n
                if e > 0 and text[e - 1] == "\\":
                    j = e + 1
                    continue
                seg = re.sub(r"/\*.*?\*/", "", text[i:e], flags=re.S)
                if "/*" in seg:
                    # a comment that goes on past the line's end
                    c = text.find("*/", e)
                    if c >= 0:
                        j = c
                        continue
                break
            line = text[i:e]
            i = e
            m = re.match(r"#\s*define\s+(CTR_[A-Za-z0-9_]*)(\s+(.*))?$", line, re.S)
            if m:
                name = m.group(1)
                value = re.sub(r"\s*\\\n\s*", " ", (m.group(3) or "")).strip()
                trailing = None
                c = re.search(r"/\*(.*?)\*/\s*$", value, re.S)
                if c:
                    trailing = " ".join(c.group(1).split())
                    value = value[:c.start()].strip()
                items.append(["define", name, value, trailing])
            else:
                items.append(["other", line])
            continue
        if text.startswith('extern "C"', i) or text[i] == "}":
            # the C++ linkage block's own lines
            e = text.find("\n", i)
            e = n if e < 0 else e
            items.append(["other", text[i:e]])
            i = e
            continue
        # C text up to the end of the statement
        j, depth = i, 0
        while j < n:
            ch = text[j]
            if text.startswith("/*", j):
                k = text.find("*/", j + 2)
                j = k + 2
                continue
            if ch in "({":
                depth += 1
            elif ch in ")}":
                depth -= 1
            elif ch == ";" and depth == 0:
                break
            j += 1
        stmt = text[i:j + 1] if j < n and text[j] == ";" else text[i:j]
        i = j + 1
        flat = re.sub(r"/\*.*?\*/", "", stmt, flags=re.S)
        flat = " ".join(flat.split())
        if flat.startswith("CTR_API "):
            items.append(["decl", flat[len("CTR_API "):]])
        elif flat.startswith("typedef struct"):
            m = re.search(r"(\w+)\s*;$", flat)
            items.append(["typedef", m.group(1) if m else flat, stmt.strip()])
        else:
            items.append(["other", flat])
    return items


def func_name(decl):
    return re.search(r"(\w+)\s*\(", decl).group(1)


def is_dashes(lines):
    return len(lines) == 1 and re.match(r"^-{3,}$", lines[0].strip()) is not None


def is_banner(lines):
    return bool(lines) and re.match(r"^-{3,}", lines[0].strip()) is not None \
        or bool(lines) and re.match(r"^-{2,}\s*\S.*-{3,}\s*$", lines[0].strip()) is not None


def parse_header(rel):
    """One header -> dict with its top comment, entries in order."""
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        items = tokenize(f.read())
    hdr = {"file": rel, "top": [], "entries": [], "handles": []}
    k = 0
    if items and items[0][0] == "comment":
        hdr["top"] = items[0][1]
        k = 1
    entries = hdr["entries"]
    pending = None          # a comment waiting for what follows it
    group = None            # the function group being collected
    defines = None          # the define group being collected
    while k < len(items):
        it = items[k]
        kind = it[0]
        if kind == "comment":
            lines = it[1]
            if pending is not None:
                entries.append(("note", pending))
            group = defines = None
            pending = None
            if is_dashes(lines):
                # a boxed banner: /* ---- */ /* text */ ... /* ---- */
                body = []
                while k + 1 < len(items) and items[k + 1][0] == "comment":
                    k += 1
                    if is_dashes(items[k][1]):
                        break
                    body += items[k][1]
                text = " ".join(l.strip() for l in body)
                m = re.match(r"^(.*?[.:])\s+(.*)$", text)
                title, rest = (m.group(1).rstrip(".:"), [m.group(2)[:1].upper() + m.group(2)[1:]]) if m else (text, [])
                entries.append(("section", title, rest))
            elif is_banner(lines):
                title = re.sub(r"^-+\s*|\s*-+$", "", lines[0].strip())
                entries.append(("section", title.strip(), lines[1:]))
            else:
                pending = lines
        elif kind == "blank":
            if pending is not None:
                entries.append(("note", pending))
                pending = None
            defines = None
            if group is not None:
                group["closed"] = True
        elif kind == "decl":
            if pending is not None:
                group = {"doc": pending, "decls": [it[1]], "closed": False}
                entries.append(("funcs", group))
                pending = None
            elif group is not None:
                group["decls"].append(it[1])
            else:
                group = {"doc": [], "decls": [it[1]], "closed": False}
                entries.append(("funcs", group))
            defines = None
        elif kind == "define":
            name, value, trailing = it[1], it[2], it[3]
            group = None
            if name == "CTR_API" or name.endswith("_"):
                pending = None
                k += 1
                continue
            if pending is not None or defines is None:
                defines = {"doc": pending or [], "defs": []}
                entries.append(("defines", defines))
                pending = None
            defines["defs"].append((name, value, trailing))
        elif kind == "typedef":
            group = defines = None
            name, text = it[1], it[2]
            if "{" in text:
                entries.append(("struct", name, pending or [], text))
            else:
                hdr["handles"].append(name)
                entries.append(("handle", name, pending or [], text))
            pending = None
        else:
            if pending is not None:
                entries.append(("note", pending))
                pending = None
            group = defines = None
        k += 1
    if pending is not None:
        entries.append(("note", pending))
    return hdr


# ---- roff ----------------------------------------------------------------------

def esc(s):
    """Escape text for roff, non-ASCII as \\[uXXXX] glyphs."""
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\e")
        elif ord(ch) < 128:
            out.append(ch)
        elif unicodedata.combining(ch) and out and out[-1] and (
                len(out[-1]) == 1 or out[-1].startswith("\\[u")):
            prev = out.pop()
            base = ("u%04X" % ord(prev)) if len(prev) == 1 else prev[3:-1]
            out.append("\\[%s_%04X]" % (base, ord(ch)))
        else:
            out.append("\\[u%04X]" % ord(ch))
    return "".join(out)


def line_out(s):
    """A text line: no leading control character."""
    if s.startswith(".") or s.startswith("'"):
        return "\\&" + s
    return s


class Markup:
    def __init__(self, funcs, pages):
        self.funcs = funcs
        self.pages = pages
        self.refs = set()

    def inline(self, s):
        """Escape, then bold known functions and italicise `quoted` text."""
        parts = re.split(r"(`[^`]+`)", s)
        out = []
        for p in parts:
            if len(p) > 2 and p.startswith("`") and p.endswith("`"):
                out.append("\\fI" + esc(p[1:-1]) + "\\fP")
                continue
            e = esc(p)

            def bold(m):
                name = m.group(1)
                if name in self.funcs or name in self.pages:
                    self.refs.add(name)
                    return "\\fB" + name + "\\fP" + (m.group(2) or "")
                return m.group(0)
            out.append(re.sub(r"\b(ctr_[a-z0-9_]+)(\(\))?", bold, e))
        return "".join(out)


def indent_of(s):
    return len(s) - len(s.lstrip(" "))


def body_roff(lines, mk):
    """Comment lines -> roff paragraphs (see the module comment)."""
    out = []
    i, n = 0, len(lines)
    state = None  # None, "text", "pre", "list"

    def para(kind):
        nonlocal state
        if kind == "text" and state != "text":
            out.append(".PP")
        state = kind

    while i < n:
        line = lines[i]
        if not line.strip():
            state = None
            i += 1
            continue
        ind = indent_of(line)
        m = re.match(r"^(\s*)[-*] (.*)$", line)
        if m:
            base = ind
            text = [m.group(2).strip()]
            i += 1
            while i < n and lines[i].strip() and indent_of(lines[i]) > base \
                    and not re.match(r"^\s*[-*] ", lines[i]):
                text.append(lines[i].strip())
                i += 1
            out.append(".IP \\(bu 2")
            out.extend(line_out(mk.inline(t)) for t in text)
            state = "list"
            continue
        nxt = lines[i + 1] if i + 1 < n else ""
        tag = re.match(r"^([A-Za-z_][\w().,* ]{0,60}?):\s+(\S.*)$", line)
        if ind == 0 and tag and nxt.strip() and 0 < indent_of(nxt) <= 4 \
                and not re.match(r"^\s*[-*] ", nxt):
            out.append(".TP")
            out.append(line_out(mk.inline(tag.group(1))))
            out.append(line_out(mk.inline(tag.group(2))))
            i += 1
            while i < n and lines[i].strip() and indent_of(lines[i]) > 0:
                out.append(line_out(mk.inline(lines[i].strip())))
                i += 1
            state = "list"
            continue
        if ind > 0:
            block = []
            while i < n and lines[i].strip() and (indent_of(lines[i]) > 0):
                block.append(lines[i])
                i += 1
            base = min(indent_of(b) for b in block)
            out.append(".PP")
            out.append(".RS 4")
            out.append(".nf")
            out.extend(line_out(esc(b[base:])) for b in block)
            out.append(".fi")
            out.append(".RE")
            state = "pre"
            continue
        if state == "list":
            out.append(".PP")
            state = "text"
        para("text")
        out.append(line_out(mk.inline(line.strip())))
        i += 1
    return out


def summary(lines, limit=90):
    """The first sentence of a comment, for NAME lines and lists."""
    text = " ".join(l.strip() for l in lines if l.strip())
    text = re.sub(r"^contrastive(/\w+)?\.h\s+-\s+", "", text).replace("`", "")
    depth, cut = 0, len(text)
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch in ".:" and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            if ch == "." and re.search(r"\b(e\.g|i\.e|al|vs|etc)$", text[:i]):
                continue
            cut = i
            break
    s = text[:cut].strip()
    if len(s) > limit:
        s = s[:limit].rsplit(" ", 1)[0].rstrip(",;") + " ..."
    return s or "undocumented"


def prototype(decl):
    """A declaration laid out for the SYNOPSIS, name in bold."""
    decl = decl.rstrip(";").strip() + ";"
    name = func_name(decl)
    head, args = decl.split("(", 1)
    args = args.rsplit(")", 1)[0]
    parts = [a.strip() for a in args.split(",")]
    lines, cur = [], head + "("
    pad = " " * min(len(cur), 8)
    for j, p in enumerate(parts):
        piece = p + ("," if j < len(parts) - 1 else ");")
        if len(cur) + len(piece) + 1 > 72 and not cur.endswith("("):
            lines.append(cur.rstrip())
            cur = pad + piece + " "
        else:
            cur += piece + " "
    lines.append(cur.rstrip())
    out = []
    for l in lines:
        e = esc(l)
        e = e.replace(name + "(", "\\fB" + name + "\\fP(", 1)
        out.append(line_out(e))
    return out


def th(name, version):
    return '.TH %s 3 "" "libcontrastive %s" "%s"\n.nh\n.ad l' % (
        name.upper().replace("_", "\\_"), version, MANUAL)


def synopsis_start():
    return [".SH SYNOPSIS", ".nf", ".B #include <contrastive.h>", ".fi",
            ".PP", "Link with", ".I \\-lcontrastive",
            "(pkg-config: contrastive; CMake: contrastive::contrastive).", ".PP", ".nf"]


def see_also(names, version):
    names = sorted(set(names))
    out = [".SH SEE ALSO"]
    for j, nm in enumerate(names):
        out.append(".BR %s (3)%s" % (nm, "," if j < len(names) - 1 else ""))
    return out


def generated(rel):
    return ['.\\" Generated by scripts/gen-man.py from %s; do not edit.' % rel]


# ---- pages -----------------------------------------------------------------------

def build(version):
    files = header_files()
    headers = [parse_header(f) for f in files]
    funcs = {}
    for h in headers:
        for e in h["entries"]:
            if e[0] == "funcs":
                for d in e[1]["decls"]:
                    funcs[func_name(d)] = h
    pages = {}      # name -> list of roff lines
    links = {}      # name -> target page

    def obj_page_name(h):
        if h["file"] == TOP:
            return "contrastive"
        stem = os.path.splitext(os.path.basename(h["file"]))[0]
        name = "ctr_" + stem
        if name in funcs:
            name = "contrastive_" + stem
        return name

    obj_names = {h["file"]: obj_page_name(h) for h in headers}
    page_names = set(obj_names.values())
    for h in headers:
        for e in h["entries"]:
            if e[0] == "struct":
                page_names.add(e[1])
    mk_names = set(funcs) | page_names

    for h in headers:
        obj = obj_names[h["file"]]
        for e in h["entries"]:
            if e[0] == "funcs":
                group = e[1]
                names = [func_name(d) for d in group["decls"]]
                mk = Markup(mk_names, page_names)
                desc = body_roff(group["doc"], mk) if group["doc"] else \
                    [".PP", "This function is not documented in the header."]
                p = generated(h["file"]) + [th(names[0], version), ".SH NAME",
                                            "%s \\- %s" % (", ".join(names), esc(summary(group["doc"])))]
                p += synopsis_start()
                for d in group["decls"]:
                    p += prototype(d)
                p += [".fi", ".SH DESCRIPTION"] + desc
                rel = (mk.refs - set(names)) | {obj, "contrastive"}
                p += see_also(rel, version)
                pages[names[0]] = p
                for other in names[1:]:
                    links[other] = names[0]
            elif e[0] == "struct":
                name, doc, text = e[1], e[2], e[3]
                mk = Markup(mk_names, page_names)
                p = generated(h["file"]) + [th(name, version), ".SH NAME",
                                            "%s \\- %s" % (name, esc(summary(doc)))]
                p += synopsis_start()
                p += [line_out(esc(l)) for l in text.split("\n")]
                p += [".fi", ".SH DESCRIPTION"] + body_roff(doc, mk)
                p += see_also((mk.refs - {name}) | {obj, "contrastive"}, version)
                pages[name] = p
        pages[obj] = object_page(h, obj, headers, obj_names, mk_names, page_names, version)
    links["libcontrastive"] = "contrastive"
    return pages, links, funcs


def object_page(h, name, headers, obj_names, mk_names, page_names, version):
    mk = Markup(mk_names, page_names)
    top = h["top"]
    p = generated(h["file"]) + [th(name, version), ".SH NAME"]
    if name == "contrastive":
        p.append("contrastive, libcontrastive \\- contrastive self-supervised "
                 "representation learning in C")
    else:
        p.append("%s \\- %s" % (name, esc(summary(top))))
    p += synopsis_start()
    for e in h["entries"]:
        if e[0] == "handle":
            p.append(line_out(esc(" ".join(e[3].split()))))
    decls = [d for e in h["entries"] if e[0] == "funcs" for d in e[1]["decls"]]
    if decls and any(e[0] == "handle" for e in h["entries"]):
        p.append("")
    for d in decls:
        p += prototype(d)
    p += [".fi", ".SH DESCRIPTION"]
    body = [l for l in top]
    if body and re.match(r"^contrastive(/\w+)?\.h\s+-", body[0]):
        body[0] = re.sub(r"^contrastive(/\w+)?\.h\s+-\s+", "", body[0])
        body[0] = body[0][:1].upper() + body[0][1:]
    p += body_roff(body, mk)
    if name == "contrastive":
        p += [".SH OBJECTS"]
        for other in headers:
            if other is h:
                continue
            p += [".TP", ".BR %s (3)" % obj_names[other["file"]],
                  esc(summary(other["top"]))]
        structs = [e for e in h["entries"] if e[0] == "struct"]
        for e in structs:
            p += [".TP", ".BR %s (3)" % e[1], esc(summary(e[2]))]
    # constants and notes, by section
    consts = []
    for e in h["entries"]:
        if e[0] == "section":
            consts.append(("section", e[1], e[2]))
        elif e[0] == "defines":
            consts.append(("defines", e[1]))
        elif e[0] == "note":
            consts.append(("note", e[1]))
    if any(c[0] == "defines" for c in consts):
        p.append(".SH CONSTANTS")
        pend_section = None
        for c in consts:
            if c[0] == "section":
                pend_section = c
                continue
            if c[0] == "note" and pend_section is None:
                p += body_roff(c[1], mk)
                continue
            if pend_section is not None:
                title = pend_section[1]
                if title:
                    p.append(".SS %s" % esc(title[:1].upper() + title[1:]))
                if pend_section[2]:
                    p += body_roff(pend_section[2], mk)
                pend_section = None
            if c[0] == "note":
                p += body_roff(c[1], mk)
                continue
            group = c[1]
            if group["doc"] and all(t for _, _, t in group["defs"]):
                # a heading comment, then one trailing comment per constant
                p += body_roff(group["doc"], mk)
                for nm, val, t in group["defs"]:
                    p += [".TP", line_out("\\fB%s\\fP %s" % (nm, esc(val))),
                          line_out(mk.inline(t))]
            elif group["doc"]:
                p.append(".TP")
                p.append(line_out(", ".join("\\fB%s\\fP %s" % (nm, esc(val))
                                            for nm, val, _ in group["defs"])))
                p += [line_out(mk.inline(l.strip())) if l.strip() else ".br"
                      for l in group["doc"]]
                notes = [(nm, t) for nm, _, t in group["defs"] if t]
                for nm, t in notes:
                    p += [".br", line_out("%s: %s" % (nm, mk.inline(t)))]
            else:
                for nm, val, trailing in group["defs"]:
                    p.append(".TP")
                    p.append(line_out("\\fB%s\\fP %s" % (nm, esc(val))))
                    p.append(line_out(mk.inline(trailing)) if trailing else "\\&")
    groups = [e[1] for e in h["entries"] if e[0] == "funcs"]
    if groups:
        p.append(".SH FUNCTIONS")
        for g in groups:
            names = [func_name(d) for d in g["decls"]]
            p.append(".TP")
            p.append(", ".join("\\fB%s\\fP(3)" % nm for nm in names))
            p.append(line_out(mk.inline(summary(g["doc"], 200))))
    rel = set(mk.refs) | {"contrastive"}
    if name == "contrastive":
        rel |= set(obj_names.values())
    rel.discard(name)
    for e in h["entries"]:
        if e[0] == "funcs":
            rel -= {func_name(d) for d in e[1]["decls"]}
    p += see_also(rel, version)
    return p


def version_of():
    with open(os.path.join(ROOT, TOP), encoding="utf-8") as f:
        text = f.read()
    parts = [re.search(r"^#define CTR_VERSION_%s\s+(\d+)" % k, text, re.M).group(1)
             for k in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: gen-man.py OUTDIR | --list\n")
        return 2
    pages, links, _ = build(version_of())
    if argv[1] == "--list":
        for nm in sorted(set(pages) | set(links)):
            print(nm)
        return 0
    outdir = os.path.join(argv[1], "man3")
    os.makedirs(outdir, exist_ok=True)
    for old in os.listdir(outdir):
        if old.endswith(".3"):
            os.remove(os.path.join(outdir, old))
    for nm, lines in pages.items():
        with open(os.path.join(outdir, nm + ".3"), "w", encoding="ascii") as f:
            f.write("\n".join(lines) + "\n")
    for nm, target in links.items():
        with open(os.path.join(outdir, nm + ".3"), "w", encoding="ascii") as f:
            f.write(".so man3/%s.3\n" % target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
