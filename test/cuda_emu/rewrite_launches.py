#!/usr/bin/env python3
"""Turns a preprocessed CUDA translation unit into plain C++ for the CPU emulator.

  name<<<grid, block[, smem[, stream]]>>>(args)
      -> ::cuda_emu::launch_kernel("name", name, ::cuda_emu::LaunchConfig(grid, block[, ...]), args)
     or, for a template kernel whose template arguments are deduced from the call,
      -> ::cuda_emu::launch_kernel_deduced("name", [](auto... a) { name(a...); }, ::cuda_emu::LaunchConfig(...), args)
  __global__                    -> removed (after noting which kernels are templates)
  extern __shared__ T name[];   -> static T* const name = (T*)::cuda_emu::dynamic_shared_memory();
  __shared__ T name[...];       -> static T name[...];   (one block runs at a time)

`name` may be qualified and templated (ns::kernel<T, 4>); arguments may span lines and
nest parentheses. String and character literals are left alone. Line count is kept, so
compiler messages keep pointing at the right lines.

Usage: rewrite_launches.py INPUT.ii OUTPUT.cpp
"""
import re
import sys


class RewriteError(Exception):
    pass


def literal_mask(text):
    """A list of booleans: True where a character belongs to a string or char literal."""
    mask = [False] * len(text)
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == '"' or ch == "'":
            if ch == "'" and i > 0 and (text[i - 1].isalnum() or text[i - 1] == '_'):
                # a digit separator (1'000) or a prefix (u8'a', L'a'): look at the token before
                j = i - 1
                while j >= 0 and (text[j].isalnum() or text[j] == '_'):
                    j -= 1
                if text[j + 1].isdigit():
                    i += 1
                    continue
            if ch == '"':
                j = i - 1
                while j >= 0 and (text[j].isalnum() or text[j] == '_'):
                    j -= 1
                if text[j + 1:i] in ('R', 'u8R', 'uR', 'UR', 'LR'):  # raw string R"delim( ... )delim"
                    close = text.index('(', i)
                    delim = text[i + 1:close]
                    end = text.index(')' + delim + '"', close) + len(delim) + 2
                    for k in range(i, end):
                        mask[k] = True
                    i = end
                    continue
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == '\\' else 1
            for k in range(i, min(j + 1, n)):
                mask[k] = True
            i = j + 1
            continue
        i += 1
    return mask


def skip_space_back(text, i):
    while i >= 0 and text[i].isspace():
        i -= 1
    return i


def kernel_name_start(text, end):
    """Start index of the (qualified, templated) kernel name ending just before `end`."""
    i = skip_space_back(text, end - 1)
    while True:
        if i >= 0 and text[i] == '>':  # template arguments: match back to '<'
            depth = 0
            while i >= 0:
                c = text[i]
                if c in '>)]':
                    depth += 1
                elif c in '<([':
                    depth -= 1
                    if depth == 0:
                        break
                i -= 1
            i = skip_space_back(text, i - 1)
        if i < 0 or not (text[i].isalnum() or text[i] == '_'):
            raise RewriteError('no kernel name before <<<')
        while i >= 0 and (text[i].isalnum() or text[i] == '_'):
            i -= 1
        start = i + 1
        j = skip_space_back(text, i)
        if j >= 1 and text[j] == ':' and text[j - 1] == ':':
            k = skip_space_back(text, j - 2)
            if k >= 0 and (text[k].isalnum() or text[k] == '_' or text[k] == '>'):
                i = k
                continue
            return j - 1  # leading ::
        return start


def matching(text, mask, i):
    """Index of the bracket closing the one at i."""
    pairs = {'(': ')', '[': ']', '{': '}'}
    stack = []
    while i < len(text):
        c = text[i]
        if not mask[i]:
            if c in pairs:
                stack.append(pairs[c])
            elif c in ')]}':
                if not stack or stack.pop() != c:
                    raise RewriteError('unbalanced brackets')
                if not stack:
                    return i
        i += 1
    raise RewriteError('unterminated argument list')


def config_end(text, mask, i):
    """Index of the '>>>' closing a launch configuration that starts at i."""
    depth = 0
    while i < len(text):
        if not mask[i]:
            c = text[i]
            if c in '([{':
                depth += 1
            elif c in ')]}':
                depth -= 1
            elif depth == 0 and text.startswith('>>>', i):
                return i
        i += 1
    raise RewriteError('<<< without >>>')


def line_of(text, i):
    return text.count('\n', 0, i) + 1


def template_kernels(text, mask):
    """Names of the kernels declared as templates (template <...> __global__ ... name(...))."""
    names = set()
    for m in re.finditer(r'\b__global__\b', text):
        if mask[m.start()]:
            continue
        i = skip_space_back(text, m.start() - 1)
        while True:  # skip qualifiers and attributes written before __global__
            word = re.search(r'(\w+)$', text[max(0, i - 20):i + 1])
            if word and word.group(1) in ('static', 'inline', 'extern'):
                i = skip_space_back(text, i - len(word.group(1)))
            elif text[i] == ')' and re.search(r'__attribute__\s*\(\([^;{}]*\)\)$', text[max(0, i - 200):i + 1]):
                a = re.search(r'__attribute__\s*\(\([^;{}]*\)\)$', text[max(0, i - 200):i + 1])
                i = skip_space_back(text, i - len(a.group(0)))
            else:
                break
        if text[i] != '>':
            continue
        depth = 0
        while i >= 0:
            if text[i] == '>':
                depth += 1
            elif text[i] == '<':
                depth -= 1
                if depth == 0:
                    break
            i -= 1
        if not re.search(r'\btemplate\s*$', text[max(0, i - 40):i]):
            continue
        rest = re.sub(r'__attribute__\s*\(\(.*?\)\)', ' ', text[m.end():m.end() + 400])
        name = re.match(r'[^(;{]*?(\w+)\s*\(', rest)
        if name:
            names.add(name.group(1))
    return names


def rewrite_launches(text):
    mask = literal_mask(text)
    templates = template_kernels(text, mask)
    out = []
    pos = 0
    i = text.find('<<<')
    while i >= 0:
        if mask[i] or text[:i].rstrip().endswith('operator'):
            i = text.find('<<<', i + 3)
            continue
        try:
            start = kernel_name_start(text, i)
            cfg_end = config_end(text, mask, i + 3)
            paren = cfg_end + 3
            while paren < len(text) and text[paren].isspace():
                paren += 1
            if paren >= len(text) or text[paren] != '(':
                raise RewriteError('no argument list after >>>')
            close = matching(text, mask, paren)
        except RewriteError as e:
            raise RewriteError('line %d of the preprocessed source: %s' % (line_of(text, i), e))
        name = text[start:i].strip()
        config = text[i + 3:cfg_end].strip()
        args = text[paren + 1:close].strip()
        original = text[start:close + 1]
        simple = re.sub(r'\s+', ' ', name)
        if not simple.endswith('>') and re.sub(r'^.*::', '', simple) in templates:  # template arguments deduced from the call
            call = '::cuda_emu::launch_kernel_deduced("%s", [](auto... a) { %s(a...); }, ::cuda_emu::LaunchConfig(%s)%s)' % (
                simple, name, config, ', ' + args if args else '')
        else:
            call = '::cuda_emu::launch_kernel("%s", %s, ::cuda_emu::LaunchConfig(%s)%s)' % (
                simple, name, config, ', ' + args if args else '')
        call = call.replace('\n', ' ') + '\n' * original.count('\n')
        out.append(text[pos:start])
        out.append(call)
        pos = close + 1
        i = text.find('<<<', pos)
    out.append(text[pos:])
    return ''.join(out)


EXTERN_SHARED = re.compile(r'\bextern\s+__shared__\s+([^;{}()]*?(?:\([^;{}]*?\)[^;{}()]*?)*?)\s*\b(\w+)\s*\[\s*\]\s*;')
ALIGN = re.compile(r'__attribute__\s*\(\(\s*aligned\s*\(\s*\d+\s*\)\s*\)\)|\balignas\s*\(\s*\d+\s*\)')
SHARED = re.compile(r'\b(?:static\s+)?__shared__\b(?:\s+static\b)?')
GLOBAL = re.compile(r'\b__global__\b')


def rewrite_qualifiers(text):
    def extern_shared(m):
        elem = ALIGN.sub('', m.group(1)).strip()
        return 'static %s* const %s = (%s*)::cuda_emu::dynamic_shared_memory();' % (elem, m.group(2), elem)
    mask = literal_mask(text)
    out, start = [], 0
    for i in range(1, len(text) + 1):  # rewrite the code between literals, keep the literals
        if i == len(text) or mask[i] != mask[start]:
            piece = text[start:i]
            if not mask[start]:
                piece = GLOBAL.sub('', SHARED.sub('static', EXTERN_SHARED.sub(extern_shared, piece)))
            out.append(piece)
            start = i
    return ''.join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit('usage: rewrite_launches.py INPUT.ii OUTPUT.cpp')
    with open(sys.argv[1]) as f:
        text = f.read()
    try:
        text = rewrite_qualifiers(rewrite_launches(text))
    except RewriteError as e:
        sys.exit('error: %s: %s' % (sys.argv[1], e))
    with open(sys.argv[2], 'w') as f:
        f.write(text)


if __name__ == '__main__':
    main()
