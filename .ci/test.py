"""The README's test command: `.venv/bin/python .ci/test.py`, from a clone, in any shell (no activated environment needed).

It checks that the package is exactly what the notebooks export (`nbdev_export`, then `git diff` on `dicom_prep/`), then runs
every notebook with `nbdev_test --flags "slow dcmtk"`, passing on any other arguments (`--path nbs/06_cli.ipynb` runs one).
The comparisons against dcmtk need its `dcmj2pnm`; where it is missing their cells skip quietly inside the notebooks, so this
says so before and after the run, rather than letting "Success." suggest they ran.
"""
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NO_DCMTK = "dcmtk's dcmj2pnm is not installed: the comparisons against dcmtk (90_conformance) are skipped; `apt-get install dcmtk` runs them"

def tool(name:str)->str:
    "The path of console script `name` in the environment running this script."
    p = Path(sys.executable).parent/name
    if not p.exists(): sys.exit(f"{p} not found: run this with the project environment's interpreter, `.venv/bin/python .ci/test.py`")
    return str(p)

def run(*cmd)->int: return subprocess.run(cmd, cwd=ROOT).returncode

if __name__ == '__main__':
    if run(tool('nbdev_export')) or run('git', 'diff', '--quiet', '--exit-code', '--', 'dicom_prep'):
        sys.exit("dicom_prep/ differs from what the notebooks export: run nbdev_export and commit the result")
    dcmtk = shutil.which('dcmj2pnm') is not None
    if not dcmtk: print(NO_DCMTK, flush=True)
    rc = run(tool('nbdev_test'), '--flags', 'slow dcmtk', *sys.argv[1:])
    if not dcmtk: print(NO_DCMTK)
    sys.exit(rc)
