"""Benchmark: dicom_prep against the design notes' pipeline (the baseline) and dcmtk's dcmj2pnm (dcm2pnm with JPEG decoders), in one run.

    python bench/bench.py            # full corpus (about 2 GB under bench/out, made once from pydicom-data files)
    python bench/bench.py --quick    # a small corpus, to check the script itself

Each engine runs --repeat times (default 3) on each part, in alternating order, and the best run is reported: the
first run after another engine's writes is slowed by their writeback, whichever engine it is.
Prints files/s, frames/s and peak memory (the largest worker's peak RSS) per engine and corpus part, the ratio
dicom_prep / baseline, a per-stage profile of one file, and peak traced memory for one radiograph.
"""
import argparse, io, json, os, resource, shutil, subprocess, sys, time, tracemalloc
from multiprocessing import Pool
from pathlib import Path
import numpy as np, pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

OUT = Path(__file__).parent/'out'
SIZE = 224

# ---- corpus, generated from real pydicom-data files -------------------------------------------------

def _write(ds, path):
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path.parent.mkdir(parents=True, exist_ok=True); ds.save_as(path)

def make_corpus(root:Path, n_ct=1000, n_cr=100, n_jpeg=200, n_mf=20, mf_frames=20):
    "CT slices in study folders, 2048x2048 MONOCHROME1 radiographs, JPEG lossless CT slices, multi-frame CTs."
    if (root/'done.json').exists(): return json.loads((root/'done.json').read_text())
    ct = pydicom.dcmread(get_testdata_file('693_UNCI.dcm'))         # 512x512 CT, signed 14-bit, window
    for i in range(n_ct):
        if i % 50 == 0: ct.StudyInstanceUID = generate_uid()
        _write(ct, root/'ct'/f'study{i // 50:03d}'/f'IM{i:05d}.dcm')
    cr = pydicom.dcmread(get_testdata_file('RG1_UNCI.dcm'))          # 1955x1841 CR, MONOCHROME1
    big = np.asarray(Image.fromarray(cr.pixel_array.astype(np.int32)).resize((2048, 2048), Image.BILINEAR)).astype(np.uint16)
    cr.Rows = cr.Columns = 2048; cr.PixelData = big.tobytes()
    for i in range(n_cr): _write(cr, root/'cr'/f'CR{i:04d}.dcm')
    jp = pydicom.dcmread(get_testdata_file('bad_sequence.dcm'))      # 512x512 CT, JPEG Lossless
    for i in range(n_jpeg): _write(jp, root/'jpeg'/f'J{i:04d}.dcm')
    mf = pydicom.dcmread(get_testdata_file('693_UNCI.dcm'))
    mf.NumberOfFrames = mf_frames; mf.PixelData = mf.PixelData * mf_frames
    for i in range(n_mf): _write(mf, root/'mf'/f'MF{i:03d}.dcm')
    counts = dict(ct=(n_ct, n_ct), cr=(n_cr, n_cr), jpeg=(n_jpeg, n_jpeg), mf=(n_mf, n_mf * mf_frames))
    (root/'done.json').write_text(json.dumps(counts)); return counts

# ---- the baseline: the design notes' pipeline, as the issue describes it ------------------------------
# float64 over every pixel, window as LINEAR_EXACT, a second full-image min-max stretch, MONOCHROME1 as
# arr.max() - arr, RGB, LANCZOS straight from full size, PNG with optimize=True; the file is read per frame.

def baseline_normalize(arr, ds):
    arr = arr.astype(np.float64) * float(ds.get('RescaleSlope', 1)) + float(ds.get('RescaleIntercept', 0))
    if 'WindowCenter' in ds:
        c, w = (float(v[0] if isinstance(v, pydicom.multival.MultiValue) else v) for v in (ds.WindowCenter, ds.WindowWidth))
        arr = np.clip(arr, c - w / 2, c + w / 2)
    if ds.PhotometricInterpretation == 'MONOCHROME1': arr = arr.max() - arr
    arr = (arr - arr.min()) / (arr.max() - arr.min() + 1e-8)
    return (arr * 255).astype(np.uint8)

def baseline_file(args):
    path, dst = args
    n = int(pydicom.dcmread(path, stop_before_pixels=True).get('NumberOfFrames', 1) or 1)
    for i in range(n):
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array
        frame = arr[i] if n > 1 else arr
        img = Image.fromarray(baseline_normalize(frame, ds)).convert('RGB').resize((SIZE, SIZE), Image.LANCZOS)
        out = Path(dst)/f'{Path(path).stem}_{i}.png'; img.save(out, optimize=True)
    return n

def run_baseline(src, dst, workers):
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in src.rglob('*.dcm'))
    with Pool(workers) as p: return sum(p.map(baseline_file, [(f, str(dst)) for f in files], chunksize=4))

# ---- dcmtk ------------------------------------------------------------------------------------------------

def dcmtk_file(args):
    path, dst = args
    subprocess.run(['dcmj2pnm', '+Wi', '1', '+Fa', '+Sxv', str(SIZE), '+on', '-q', path, str(Path(dst)/Path(path).stem)], check=True)

def run_dcmtk(src, dst, workers):
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p) for p in src.rglob('*.dcm'))
    with Pool(workers) as p: p.map(dcmtk_file, [(f, str(dst)) for f in files], chunksize=4)

def run_ours(src, dst, workers):
    from dicom_prep.export import preprocess_dicoms
    rows = preprocess_dicoms(src, dst, size=SIZE, frames='all', n_workers=workers)
    bad = [r for r in rows if r['status'] != 'ok']
    assert not bad, bad[:3]

# ---- one engine on one part, in a fresh process so its peak memory is its own -----------------------------

def child(engine, src, dst, workers):
    import dicom_prep.export # imports are not conversion time, for any engine (the baseline's are at the top of this file)
    t0 = time.perf_counter()
    {'dicom_prep': run_ours, 'baseline': run_baseline, 'dcmj2pnm': run_dcmtk}[engine](Path(src), Path(dst), workers)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss # the largest worker process (or dcmj2pnm run)
    print(json.dumps(dict(seconds=dt, peak_mb=peak / 1024)))

def measure(engine, part, corpus, workers):
    dst = OUT/'results'/engine/part
    shutil.rmtree(dst, ignore_errors=True)
    r = subprocess.run([sys.executable, __file__, '--child', engine, str(corpus/part), str(dst), str(workers)], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f'{engine} on {part} failed:\n{r.stderr[-2000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])

# ---- per-stage profile and memory of one file -----------------------------------------------------------

def profile(path, reps=20):
    "Time each stage of dicom_prep on one file: read header, decode, LUT, resize, encode, write."
    from dicom_prep.loading import read_header, read_frame
    from dicom_prep.voi_lut import normalize_array
    from dicom_prep.export import resize, save_image
    t = dict.fromkeys(['read header', 'decode', 'LUT (modality+VOI+flip)', 'resize', 'encode PNG', 'write (atomic)'], 0.)
    tmp = OUT/'profile'; tmp.mkdir(parents=True, exist_ok=True)
    for _ in range(reps):
        c = time.perf_counter; t0 = c(); ds = read_header(path); t1 = c(); arr = read_frame(path, 0, ds); t2 = c()
        u8 = normalize_array(arr, ds); t3 = c(); img = resize(Image.fromarray(u8), SIZE); t4 = c()
        buf = io.BytesIO(); img.save(buf, 'PNG', compress_level=1); t5 = c(); save_image(img, tmp/'p.png'); t6 = c()
        for k, a, b in zip(t, [t0, t1, t2, t3, t4, t5], [t1, t2, t3, t4, t5, t6]): t[k] += (b - a) / reps
    return t

def traced_peak(path):
    "Peak Python-traced memory (numpy included) for converting one file, and its decoded size."
    from dicom_prep.export import render_frame
    from dicom_prep.loading import read_header, frame_bytes
    ds = read_header(path); render_frame(path, 0, SIZE, ds=ds)       # warm up imports and caches
    tracemalloc.start(); render_frame(path, 0, SIZE, ds=ds); peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    return peak, frame_bytes(ds)

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small corpus, to check the script')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=3, help='runs per engine, interleaved in alternating order; the best is reported')
    ap.add_argument('--child', nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child[0], a.child[1], a.child[2], int(a.child[3]))
    corpus = OUT/('corpus-quick' if a.quick else 'corpus')
    counts = make_corpus(corpus, *((20, 4, 8, 2, 5) if a.quick else ()))
    engines = ['dicom_prep', 'baseline'] + (['dcmj2pnm'] if shutil.which('dcmj2pnm') else [])
    print(f'machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, workers={a.workers}, best of {a.repeat} interleaved runs\n')
    print(f"{'part':5} {'engine':10} {'files':>6} {'frames':>6} {'seconds':>8} {'files/s':>8} {'frames/s':>9} {'worker MB':>9} {'ours/this':>9}")
    for part, (nf, nfr) in counts.items():
        runs = [{e: measure(e, part, corpus, a.workers) for e in (engines if k % 2 == 0 else engines[::-1])} for k in range(a.repeat)]
        res = {e: min((r[e] for r in runs), key=lambda r: r['seconds']) for e in engines} # best of the interleaved repeats
        for e, r in res.items():
            ratio = res[e]['seconds'] / res['dicom_prep']['seconds']
            print(f"{part:5} {e:10} {nf:6d} {nfr:6d} {r['seconds']:8.2f} {nf / r['seconds']:8.1f} {nfr / r['seconds']:9.1f} {r['peak_mb']:9.0f} {ratio:8.2f}x")
    for part in ['ct', 'cr']:
        f = next((corpus/part).rglob('*.dcm'))
        print(f'\nper-stage profile, one {part} file ({f.name}), ms:')
        for k, v in profile(f).items(): print(f'  {k:26} {v * 1000:7.2f}')
    peak, decoded = traced_peak(next((corpus/'cr').rglob('*.dcm')))
    print(f'\none 2048x2048 radiograph: peak traced memory {peak / 2**20:.1f} MiB = {peak / decoded:.2f}x its decoded size ({decoded / 2**20:.0f} MiB)')

if __name__ == '__main__': main()
