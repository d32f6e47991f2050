"""Benchmark: dicom_prep against the naive pipeline most tutorials use (the baseline) and dcmtk's dcmj2pnm, in one run.

    python bench/bench.py            # full corpus (about 2 GB under bench/out, made once from pydicom-data files)
    python bench/bench.py --quick    # a small corpus, to check the script itself
    python bench/bench.py --parts series   # series to NIfTI: dicom_prep --unit series against dcm2niix and SimpleITK
    python bench/bench.py --parts dataset  # the training-loop side: Dataset items/s per worker (also with --quick)

The baseline is the naive pipeline written out exactly: per file one `pydicom.dcmread(path)`, `ds.pixel_array`, a float64
`normalize_array` (Modality LUT or rescale; clip to the first window and stretch with (x - low) / (high - low) * 255;
MONOCHROME1 as `arr.max() - arr`; a final min-max stretch; uint8), `Image.fromarray(arr).resize((224, 224), Image.LANCZOS)
.convert('RGB')`, `img.save(path, 'PNG')` with Pillow's defaults, all through fastcore's `parallel`. Frames of a multi-frame file
go through the same `dicom_to_pil(path, frame)`, one call per frame, as that API requires.

Each engine runs in a fresh process (its imports done before the clock starts, worker processes forked from it) on each part of
the corpus, --repeat times, interleaved A B C, C B A, ...; the script prints the median CPU time (user + system, the workers
included) and wall time of each engine, the ratios baseline / dicom_prep pair by pair (median, min-max), the largest worker's
peak memory, and a per-stage profile of one file (each stage timed once, page faults counted).

The `dataset` part measures a training loop's worker instead: items per CPU second of one process taking items 0..n-1 of a
Dataset (float32 `(3, 224, 224)` in 0..1) from converted PNG and npy files (`ConvertedDataset`), rendered from DICOM on the fly
(`DicomDataset`), and the same loop written with pydicom by hand (the baseline's `dicom_to_pil` above, then float32 / 255), the
four loops interleaved --repeat times; it checks first that the on-the-fly arrays equal the converted PNG's.
"""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, time, tracemalloc, warnings
from pathlib import Path
import numpy as np, pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut
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
    warnings.simplefilter('ignore') # the source test files carry values pydicom remarks on
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

def make_series_corpus(root:Path, n_series=8, n_slices=60):
    "Series of real 512x512 CT slices (693_UNCI.dcm), one folder each, 1.25 mm apart along the normal, file names in shuffled order."
    if (root/'done.json').exists(): return json.loads((root/'done.json').read_text())
    warnings.simplefilter('ignore')
    ct = pydicom.dcmread(get_testdata_file('693_UNCI.dcm'))
    ipp, iop = np.array(ct.ImagePositionPatient, float), np.array(ct.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:]); order = np.random.default_rng(0).permutation(n_slices)
    for s in range(n_series):
        ct.SeriesInstanceUID, ct.SeriesNumber = generate_uid(), s + 1
        for k in range(n_slices):
            ct.ImagePositionPatient = [f"{v:.3f}" for v in ipp + 1.25 * k * normal]; ct.InstanceNumber = k + 1
            _write(ct, root/f'S{s:02d}'/f'IM{order[k]:04d}.dcm')
    counts = (n_series * n_slices, n_series); (root/'done.json').write_text(json.dumps(counts)); return counts

# ---- the baseline: the naive pipeline, exactly --------------------------------------------------------------

def normalize_array(arr, ds):
    arr = arr.astype(np.float64)
    if 'ModalityLUTSequence' in ds: arr = apply_modality_lut(arr, ds)
    elif hasattr(ds, 'RescaleSlope') and hasattr(ds, 'RescaleIntercept'): arr = arr * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    if hasattr(ds, 'WindowCenter') and hasattr(ds, 'WindowWidth'):
        wc, ww = ds.WindowCenter, ds.WindowWidth
        if isinstance(wc, MultiValue): wc = wc[0]
        if isinstance(ww, MultiValue): ww = ww[0]
        low, high = wc - ww / 2, wc + ww / 2
        arr = np.clip(arr, low, high)
        arr = (arr - low) / (high - low) * 255
    if getattr(ds, 'PhotometricInterpretation', 'MONOCHROME2') == 'MONOCHROME1': arr = arr.max() - arr
    arr_min, arr_max = arr.min(), arr.max()
    if arr_max - arr_min > 1e-6: arr = (arr - arr_min) / (arr_max - arr_min) * 255.0
    else: arr = np.zeros_like(arr)
    return arr.astype(np.uint8)

def dicom_to_pil(path, frame_idx=0, size=SIZE):
    try:
        ds = pydicom.dcmread(str(path))
        if not hasattr(ds, 'pixel_array'): return None
        num_frames = getattr(ds, 'NumberOfFrames', 1)
        if frame_idx >= num_frames: return None
        frame = ds.pixel_array[frame_idx] if num_frames > 1 else ds.pixel_array
        arr = normalize_array(frame, ds)
        return Image.fromarray(arr).resize((size, size), Image.LANCZOS).convert('RGB')
    except Exception as e:
        print(f"Warning: {path}: {e}")
        return None

def create_thumbnail(dicom_path, output_path, frame_idx=0, size=SIZE):
    from fastcore.xtras import mkdir
    img = dicom_to_pil(dicom_path, frame_idx, size)
    if img is None: return None
    mkdir(output_path.parent, exist_ok=True, parents=True)
    img.save(output_path, 'PNG')
    return output_path

def _process(item):
    dcm, frame_idx, out = item
    return create_thumbnail(dcm, out, frame_idx)

def run_baseline(src, dst, workers):
    "The naive preprocess_dicoms through fastcore's parallel; frames of multi-frame files one call each (iter_dicom_frames)."
    from fastcore.parallel import parallel
    items = []
    for p in sorted(src.rglob('*.dcm')):
        n = int(pydicom.dcmread(p, stop_before_pixels=True).get('NumberOfFrames', 1) or 1) if src.name == 'mf' else 1
        items += [(p, i, dst/f"{p.parent.name}_{p.stem}_{i}.png") for i in range(n)]
    parallel(_process, items, n_workers=workers, progress=False)

# ---- dicom_prep and dcmtk ----------------------------------------------------------------------------------

def run_ours(src, dst, workers):
    from dicom_prep.batch import preprocess_dicoms
    s = preprocess_dicoms(src, dst, size=SIZE, frames='all', n_workers=workers, progress=False)
    assert s.failed == 0, s

def dcmtk_file(args):
    path, dst = args
    subprocess.run(['dcmj2pnm', '+Wi', '1', '+on', '+Sxv', str(SIZE), '+Syv', str(SIZE), '+Fa', '-q', path, str(Path(dst)/Path(path).stem)], check=True)

def run_dcmtk(src, dst, workers):
    from multiprocessing import Pool
    files = sorted(str(p) for p in src.rglob('*.dcm'))
    with Pool(workers) as p: p.map(dcmtk_file, [(f, str(dst)) for f in files], chunksize=4)

TARGETS = [('ct', 'cpu', 5.0), ('ct', 'wall', 4.5), ('cr', 'cpu', 6.0), ('jpeg', 'cpu', 2.5), ('jpeg', 'wall', 2.5)] # (part, measure, ratio)

ENGINES = {'dicom_prep': run_ours, 'baseline': run_baseline, 'dcmj2pnm': run_dcmtk}

# ---- series to NIfTI: dicom_prep --unit series, dcm2niix, SimpleITK (each gzips at level 1) ----------------------------------

def run_ours_series(src, dst, workers):
    from dicom_prep.volumes import preprocess_series
    s = preprocess_series(src, dst, 'nii', n_workers=workers, progress=False)
    assert s.failed == 0 and s.converted, s

def dcm2niix_series(args):
    folder, dst = args
    subprocess.run(['dcm2niix', '-z', 'y', '-1', '-b', 'n', '-f', '%s_%j', '-o', dst, folder], check=True, capture_output=True)

def run_dcm2niix(src, dst, workers):
    from multiprocessing import Pool
    with Pool(workers) as p: p.map(dcm2niix_series, [(str(f), str(dst)) for f in sorted(src.iterdir()) if f.is_dir()], chunksize=1)

def sitk_series(args):
    import SimpleITK as sitk
    folder, dst = args
    for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder):
        r = sitk.ImageSeriesReader(); r.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))
        sitk.WriteImage(r.Execute(), str(Path(dst)/f'{uid}.nii.gz'), True, 1)

def run_sitk(src, dst, workers):
    from multiprocessing import Pool
    with Pool(workers) as p: p.map(sitk_series, [(str(f), str(dst)) for f in sorted(src.iterdir()) if f.is_dir()], chunksize=1)

SERIES_ENGINES = {'dicom_prep': run_ours_series, 'dcm2niix': run_dcm2niix, 'simpleitk': run_sitk}

def series_engines()->list:
    "The series engines installed here (each missing one said once)."
    out = ['dicom_prep']
    if shutil.which('dcm2niix'): out.append('dcm2niix')
    else: print('dcm2niix is not installed (apt-get install dcm2niix): skipped')
    try: import SimpleITK # noqa: F401
    except ImportError: print('SimpleITK is not installed (pip install SimpleITK): skipped')
    else: out.append('simpleitk')
    return out

def child(engine, src, dst, workers):
    "One engine on one part, in this fresh process: print its wall and CPU seconds and the largest worker's peak memory."
    import fastcore.parallel # noqa: F401 -- imports are not conversion time, for any engine
    if engine == 'dicom_prep': import dicom_prep.batch # noqa: F401 -- only ours: the others never load it (numba's memory would weigh on their workers)
    if Path(src).name == 'series':
        import dicom_prep.volumes, nibabel # noqa: F401
        if engine == 'simpleitk': import SimpleITK # noqa: F401
    Path(dst).mkdir(parents=True, exist_ok=True)
    cpu = lambda: sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    c0, t0 = cpu(), time.perf_counter()
    (SERIES_ENGINES if Path(src).name == 'series' else ENGINES)[engine](Path(src), Path(dst), workers)
    print(json.dumps(dict(wall=time.perf_counter() - t0, cpu=cpu() - c0, peak_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)))

def measure(engine, part, corpus, workers):
    dst = OUT/'results'/engine/part
    shutil.rmtree(dst, ignore_errors=True)
    os.sync() # the writes of the engine before are on disk, not competing with this one
    r = subprocess.run([sys.executable, __file__, '--child', engine, str(corpus/part), str(dst), str(workers)], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f'{engine} on {part} failed:\n{r.stderr[-3000:]}')
    return json.loads(r.stdout.strip().splitlines()[-1])

# ---- per-stage profile of one file ------------------------------------------------------------------------

def profile(path, reps=30):
    "CPU time of each stage of dicom_prep's fast path on one file, each stage timed on its own, and the page faults per file."
    from PIL import Image
    from dicom_prep.loading import plain_elements, read_header
    from dicom_prep.voi_lut import known_table, lookup, word_table, choose_voi
    from dicom_prep.export import Options, resize, resize_many, encode, write_atomic
    from dicom_prep.batch import keep_freed_memory
    from dicom_prep.fast import fast_key, resize_group, Stored, KERNEL
    keep_freed_memory()
    opts, tmp = Options(), OUT/'profile'
    tmp.mkdir(parents=True, exist_ok=True)
    ds = read_header(path); word_table(ds, choose_voi(ds), 0, np.uint8, 2) # the table an earlier file of the series built
    stages = ['read the file', 'locate elements, check, key', 'gather through the table', 'resize (alone)', 'encode PNG', 'write (atomic)']
    t, faults = dict.fromkeys(stages, 0.), 0
    for k in range(reps + 1):
        f0, c = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time
        t0 = c(); data = Path(path).read_bytes(); t1 = c()
        _, _, el = plain_elements(data); key, label, (rows, cols, size) = fast_key(data, el, opts, 1 << 30); t2 = c()
        u8 = lookup(known_table(key), np.frombuffer(data, f'<u{size}', rows * cols, el[0x7FE00010][1]).reshape(rows, cols)); t3 = c()
        img = resize(Image.fromarray(u8), SIZE); t4 = c()
        png = encode(img, 'png'); t5 = c()
        write_atomic(png, tmp/'p.png'); t6 = c()
        if k == 0: continue # warm-up
        faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        for s_, a, b in zip(stages, [t0, t1, t2, t3, t4, t5], [t1, t2, t3, t4, t5, t6]): t[s_] += (b - a) / reps
    words, table = np.frombuffer(data, f'<u{size}', rows * cols, el[0x7FE00010][1]).reshape(rows, cols), known_table(key)
    each = {}
    for label, fn, n in [('Pillow: resize, four at a time', lambda: resize_many([Image.fromarray(u8)] * 4, SIZE), 4),
                         ('kernel: gather + resize, four at a time', lambda: resize_group([Stored(words, table)] * 4, SIZE), 4),
                         ('kernel: gather + resize, eight at a time', lambda: resize_group([Stored(words, table)] * 8, SIZE), 8)]:
        if 'kernel' in label and not KERNEL: continue
        fn(); c0 = time.process_time()
        for _ in range(reps): fn()
        each[label] = (time.process_time() - c0) / reps / n
    return t, each, faults / reps

def traced_peak(path):
    "Peak memory traced by Python (NumPy and Pillow buffers included) while the batch converts one file, and its decoded size."
    import tempfile
    from dicom_prep.batch import Job, Writer, convert_file, open_run_dir
    from dicom_prep.loading import read_header, frame_bytes
    from dicom_prep.export import Options
    out = Path(tempfile.mkdtemp()); open_run_dir(out)
    job = Job(str(Path(path).parent), str(out), Options())
    for _ in range(2): w = Writer(job); convert_file(job, Path(path).name, w); w.close() # the second meets the table the first built
    tracemalloc.start(); w = Writer(job); convert_file(job, Path(path).name, w); w.close(); peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    return peak, frame_bytes(read_header(path))

# ---- the dataset part: a training loop's worker ---------------------------------------------------------------

class NaiveDataset:
    "The training loop's dataset written with pydicom by hand: the baseline's `dicom_to_pil`, then float32 (channels, rows, columns) in 0..1."
    def __init__(self, files): self.files = files
    def __len__(self): return len(self.files)
    def __getitem__(self, i): return np.asarray(dicom_to_pil(self.files[i]), np.float32).transpose(2, 0, 1) / 255

def items_per_s(d, n):
    "Items per CPU second of one process taking items 0..n-1 of `d` (one warm-up item first)."
    d[0]; c0 = time.process_time()
    for i in range(n): d[i]
    return n / (time.process_time() - c0)

def run_dataset(corpus, workers, repeat, quick):
    "Print the Dataset throughput per worker on CT slices and radiographs, beside the naive loop."
    from dicom_prep.batch import preprocess_dicoms
    from dicom_prep.dataset import ConvertedDataset, DicomDataset
    print(f"\ndataset: items per CPU second of one worker, float32 (3, {SIZE}, {SIZE}); median (min-max) of {repeat} interleaved runs; ratio = items/s / naive's")
    print(f"{'part':5} {'loop':24} {'items':>6} {'items/s':>26} {'vs naive':>20}")
    for part, n in ([('ct', 20), ('cr', 4)] if quick else [('ct', 200), ('cr', 20)]):
        for fmt in ('png', 'npy'):
            dst = OUT/'dataset'/part/fmt; shutil.rmtree(dst, ignore_errors=True)
            preprocess_dicoms(corpus/part, dst, size=SIZE, fmt=fmt, channels=3, n_workers=workers, progress=False)
        conv = {fmt: ConvertedDataset(OUT/'dataset'/part/fmt) for fmt in ('png', 'npy')}
        rows = conv['png'].rows[:n]
        loops = {'converted png': ConvertedDataset(OUT/'dataset'/part/'png', rows), 'converted npy': ConvertedDataset(OUT/'dataset'/part/'npy', conv['npy'].rows[:n]),
                 'on the fly from DICOM': DicomDataset(corpus/part, rows, conv['png'].opts), 'naive (pydicom by hand)': NaiveDataset([corpus/part/r['source'] for r in rows])}
        live = loops['on the fly from DICOM']
        assert all(np.array_equal(live[i][0], loops['converted png'][i][0]) for i in range(n)), 'on-the-fly arrays differ from the converted PNGs'
        runs = [{k: items_per_s(loops[k], n) for k in (list(loops) if r % 2 == 0 else list(loops)[::-1])} for r in range(repeat)]
        for k in loops:
            ratio = mmm([r_[k] / r_['naive (pydicom by hand)'] for r_ in runs]) if k != 'naive (pydicom by hand)' else ''
            print(f"{part:5} {k:24} {n:6d} {mmm([r_[k] for r_ in runs]):>26} {ratio:>20}")

# ---- the report --------------------------------------------------------------------------------------------

def mmm(xs): return f"{statistics.median(xs):6.2f} ({min(xs):.2f}-{max(xs):.2f})"

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='small corpus, to check the script')
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--repeat', type=int, default=3, help='runs per engine and part, interleaved')
    ap.add_argument('--parts', default='ct,cr,jpeg,mf', help="comma-separated: ct, cr, jpeg, mf; series (to NIfTI) and dataset (the training loop) run only when named")
    ap.add_argument('--child', nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child: return child(a.child[0], a.child[1], a.child[2], int(a.child[3]))
    corpus = OUT/('corpus-quick' if a.quick else 'corpus')
    counts = make_corpus(corpus, *((20, 4, 8, 2, 5) if a.quick else ())) if set(a.parts.split(',')) - {'series'} else {}
    if 'series' in a.parts.split(','): counts['series'] = make_series_corpus(corpus/'series', *((2, 10) if a.quick else ()))
    engines = ['dicom_prep', 'baseline'] + (['dcmj2pnm'] if shutil.which('dcmj2pnm') else [])
    print(f'machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, workers={a.workers}, {a.repeat} interleaved runs per engine; '
          'seconds are medians, ratios are baseline / dicom_prep pair by pair: median (min-max)\n')
    print(f"{'part':5} {'engine':10} {'files':>6} {'frames':>6} {'wall s':>7} {'CPU s':>7} {'frames/s':>9} {'worker MB':>9}   {'wall ratio':>18} {'CPU ratio':>18}")
    ratios = {}
    for part in a.parts.split(','):
        if part == 'dataset': run_dataset(corpus, a.workers, a.repeat, a.quick); continue
        nf, nfr = counts[part]
        engs = series_engines() if part == 'series' else engines
        runs = [{e: measure(e, part, corpus, a.workers) for e in (engs if k % 2 == 0 else engs[::-1])} for k in range(a.repeat)]
        if part != 'series': ratios[part] = {key: statistics.median(r['baseline'][key] / r['dicom_prep'][key] for r in runs) for key in ('cpu', 'wall')}
        if part == 'series': print("(series: 'frames' counts volumes; ratios are engine / dicom_prep)")
        for e in engs:
            wall, cpu = [r[e]['wall'] for r in runs], [r[e]['cpu'] for r in runs]
            ratio = lambda key: mmm([r[e][key] / r['dicom_prep'][key] for r in runs]) if e != 'dicom_prep' else ''
            print(f"{part:5} {e:10} {nf:6d} {nfr:6d} {statistics.median(wall):7.2f} {statistics.median(cpu):7.2f} {nfr / statistics.median(wall):9.1f} "
                  f"{statistics.median(r[e]['peak_mb'] for r in runs):9.0f}   {ratio('wall'):>18} {ratio('cpu'):>18}")
    print('\ntargets (median ratio baseline / dicom_prep in this run):')
    for part, key, goal in TARGETS:
        if part in ratios: print(f"  {part:5} {key:4} {ratios[part][key]:5.2f}x  target >= {goal}x  {'met' if ratios[part][key] >= goal else 'NOT met'}")
    for part in [p for p in ['ct', 'cr'] if p in a.parts.split(',')]:
        f = next((corpus/part).rglob('*.dcm'))
        t, each, faults = profile(f)
        print(f'\nper-stage CPU profile of the fast path on one {part} file ({f.name}), ms; {faults:.0f} minor page faults per file:')
        for k, v in t.items(): print(f'  {k:30} {v * 1000:7.2f}')
        print(f"  {'total':30} {sum(t.values()) * 1000:7.2f}")
        for k, v in each.items(): print(f"  ({k}, each){'':{max(0, 40 - len(k))}} {v * 1000:7.2f}")
    if 'cr' not in a.parts.split(','): return
    peak, decoded = traced_peak(next((corpus/'cr').rglob('*.dcm')))
    print(f'\none 2048x2048 radiograph through the batch: peak traced memory {peak / 2**20:.1f} MiB = {peak / decoded:.2f}x its decoded size ({decoded / 2**20:.0f} MiB)')

if __name__ == '__main__': main()
