"""The README and docs/*.md: every relative link (and image) resolves to a file of the repository,
every #anchor to a heading of its target (GitHub's slugs), every docs page is listed in
docs/README.md, and the README stays short (under 250 lines) with `make test` as its test command
(.ci/run runs exactly that).

    /usr/bin/python3 test/test_docs_links.py [REPO_ROOT]
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verdicts import check, summary  # noqa: E402

README_MAX_LINES = 250
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto:, ...


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def github_slug(heading):
    """The anchor GitHub gives a heading: its text as rendered, lower case, punctuation dropped
    (letters, digits, '_' and '-' kept), each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = INLINE_CODE.sub(lambda m: m.group(2), text)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in " _-")
    return text.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        seen, slugs = {}, set()
        with open(path, encoding="utf-8") as f:
            for _, line in prose_lines(f.read()):
                m = HEADING.match(line)
                if not m:
                    continue
                slug = github_slug(m.group(2))
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                slugs.add(slug if n == 0 else f"{slug}-{n}")  # GitHub numbers repeated headings
        cache[path] = slugs
    return cache[path]


def links(text):
    """(line number, target) of every inline link, image and reference definition in the prose."""
    for number, line in prose_lines(text):
        m = REFERENCE_DEF.match(line)
        if m:
            yield number, m.group(1)
            continue
        line = INLINE_CODE.sub("code", line)  # a link inside `code` is no link
        for m in LINK.finditer(line):
            yield number, m.group(1)


def broken_links(root, page):
    """One message per relative link of PAGE that does not resolve."""
    problems = []
    with open(page, encoding="utf-8") as f:
        text = f.read()
    for number, target in links(text):
        if EXTERNAL.match(target):
            continue
        where = f"{os.path.relpath(page, root)}:{number}: ({target})"
        path_part, _, anchor = target.partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(page), path_part)) if path_part else page
        if os.path.relpath(path, root).startswith(".."):
            problems.append(f"{where} points outside the repository")
        elif not os.path.exists(path):
            problems.append(f"{where} no such file")
        elif anchor and path.endswith(".md") and anchor not in anchors(path):
            problems.append(f"{where} no heading with anchor #{anchor} in {os.path.relpath(path, root)}")
    return problems


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    readme = os.path.join(root, "README.md")
    docs = os.path.join(root, "docs")
    pages = [readme] + sorted(os.path.join(docs, name) for name in os.listdir(docs) if name.endswith(".md"))
    for page in pages:
        problems = broken_links(root, page)
        name = os.path.relpath(page, root)
        count = sum(1 for _ in links(open(page, encoding="utf-8").read()))
        check(f"docs_links/{name}", not problems,
              f"{len(problems)} of {count} links broken: " + "; ".join(problems) if problems else f"{count} links")

    with open(readme, encoding="utf-8") as f:
        readme_text = f.read()
    lines = readme_text.count("\n") + (0 if readme_text.endswith("\n") else 1)
    check("docs_links/readme_short", lines < README_MAX_LINES,
          f"README.md has {lines} lines (limit: under {README_MAX_LINES}; reference text goes to docs/*.md)")

    # .ci/run runs `make test`: the README's first code block must show that command
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", readme_text, re.S | re.M)
    shown = first_block.group(1).strip() if first_block else "(no code block)"
    check("docs_links/readme_test_command", re.search(r"^make test\b", shown, re.M) is not None,
          f"the README's first code block: {shown!r}")

    index = os.path.join(docs, "README.md")
    listed = {os.path.normpath(os.path.join(docs, t.partition("#")[0]))
              for _, t in links(open(index, encoding="utf-8").read()) if not EXTERNAL.match(t)}
    unlisted = [os.path.relpath(p, root) for p in pages[1:] if p != index and p not in listed]
    check("docs_links/index_lists_every_page", not unlisted,
          f"docs/README.md does not link {', '.join(unlisted)}" if unlisted else f"{len(pages) - 2} pages listed")
    return summary("test_docs_links.py")


if __name__ == "__main__":
    sys.exit(main())
