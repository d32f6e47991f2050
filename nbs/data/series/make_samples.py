"""Make the small series shipped in this folder from dcm_qa_ct (https://github.com/neurolabusc/dcm_qa_ct, BSD 2-Clause).

Each slice keeps its header; its pixels are averaged in 8x8 blocks (512x512 -> 64x64), Rows, Columns and
Pixel Spacing follow, and Image Position (Patient) moves to the centre of the new first pixel, so every slice
stays where the standard places it. Run: python make_samples.py /path/to/dcm_qa_ct/In
"""
import sys
from pathlib import Path
import numpy as np, pydicom

F = 8 # block size

def shrink(src:Path, dst:Path):
    "Write `src` with its pixels averaged in F x F blocks and its geometry updated."
    ds = pydicom.dcmread(src)
    a = ds.pixel_array
    r, c = a.shape[0] // F * F, a.shape[1] // F * F
    small = a[:r, :c].reshape(r // F, F, c // F, F).mean((1, 3)).round().astype(a.dtype)
    sp = [float(v) for v in ds.PixelSpacing]
    if 'ImagePositionPatient' in ds and 'ImageOrientationPatient' in ds:
        iop = np.array(ds.ImageOrientationPatient, float)
        shift = (F - 1) / 2 * (iop[:3] * sp[1] + iop[3:] * sp[0])
        ds.ImagePositionPatient = [f"{v:.6f}" for v in np.array(ds.ImagePositionPatient, float) + shift]
    ds.PixelSpacing = [f"{v * F:g}" for v in sp]
    ds.Rows, ds.Columns = small.shape
    for kw in ('SmallestImagePixelValue', 'LargestImagePixelValue'): ds.pop(kw, None)
    ds.PixelData = small.tobytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)

if __name__ == '__main__':
    src, here = Path(sys.argv[1]), Path(__file__).parent
    parts = {'ct_tilt': 'Philips/S21610/S2010', 'ct_head/axial': 'Philips/S21570/S2010', 'ct_head/localizer': 'Philips/S21570/S1000', 'ct_ge': 'GE'}
    for name, folder in parts.items():
        for f in sorted((src/folder).iterdir()):
            if f.name != 'DIRFILE': shrink(f, here/name/(f.name if f.suffix else f.name + '.dcm'))
