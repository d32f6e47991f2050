"""Run `nbdev_proc_nbs` (everything `nbdev_docs` does before Quarto) where Quarto is not installed.

nbdev 2.4.14 first tries to install Quarto (which needs root) and then reinstalls this package into the
running environment; on a fresh environment that reinstall breaks the imports of the notebooks being
processed. Quarto itself is not needed to process the notebooks, so that step is skipped here.
"""
import nbdev.quarto as quarto

if __name__ == '__main__': # nbdev processes the notebooks in spawned processes, which import this file again
    quarto._ensure_quarto = lambda: None
    quarto.nbdev_proc_nbs.__wrapped__()
