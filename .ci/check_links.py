"""Check that every relative .html link in the processed notebooks (_proc/, written by nbdev_proc_nbs) names a page the docs build produces.

Run from the repository root after `.venv/bin/python .ci/proc_nbs.py` (nbdev_proc_nbs without its Quarto install). Each processed notebook declares its page in its front matter
(`output-file: discovery.html`); a link to any other .html page is reported, and the exit status is 1.
"""
import json, re, sys
from pathlib import Path

proc = Path('_proc')
nbs = sorted(proc.rglob('*.ipynb'))
if not nbs: sys.exit('no processed notebooks in _proc/: run `.venv/bin/python .ci/proc_nbs.py` first')
pages, links = set(), []
for p in nbs:
    cells = json.loads(p.read_text())['cells']
    src = lambda c: ''.join(c['source'])
    pages |= {p.parent.relative_to(proc).joinpath(m).as_posix() for c in cells if c['cell_type'] == 'raw' for m in re.findall(r'^output-file:\s*(\S+)', src(c), re.M)}
    links += [(p.name, p.parent.relative_to(proc).joinpath(m).as_posix()) for c in cells if c['cell_type'] == 'markdown'
              for m in re.findall(r'\]\((?!https?:|mailto:|#)([^)\s#]+\.html)', src(c))]
broken = [(nb, link) for nb, link in links if link not in pages]
for nb, link in broken: print(f'{nb}: link to {link}, which the docs build does not produce (pages: {", ".join(sorted(pages))})')
print(f'{len(links)} relative links in {len(nbs)} notebooks, {len(broken)} broken')
sys.exit(1 if broken else 0)
