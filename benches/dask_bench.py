#!/usr/bin/env python3
"""mimeflow.dask against the one-machine CLI (issue 12, "Speed"); a benchmark
run by hand, never a timed test:

    .venv/bin/python benches/dask_bench.py                  # 1 GB, 5 runs each
    .venv/bin/python benches/dask_bench.py --mb 5 --runs 1 --plan-mb 2 5 --s3 \\
        --cli target/debug/mimeflow                          # a quick check

1. ``read_mbox(archive, threads=1).to_parquet(...)`` on a LocalCluster with
   ``--workers`` worker processes of one thread each, against
   ``mimeflow convert ARCHIVE --to parquet DIR -j WORKERS``, alternately (a,
   b, a, b, ...) so that a neighbour's burst on a shared machine hits both;
   medians of ``--runs`` wall times and the overhead (target: at most 25% at
   1 GB). The client is connected before the timer starts: the cluster's
   start is reported on its own line.
2. Planning time (``mimeflow.dask.plan``) against archive size, for a local
   file and, with ``--s3``, for moto's S3 server on loopback read by s3fs
   (bytes fetched by the planner printed too).

The archives are written by ``scripts/gen_archive.py`` (``--kind``, text by
default) into ``--dir`` once and kept. The CPU model and the load
(``uptime``) are printed first: report them with the figures.
"""

import argparse
import logging
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def archive(kind, mb, folder):
    path = folder / ("%s-%d.mbox" % (kind, mb))
    if not path.exists():
        tmp = path.with_suffix(".part")
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "gen_archive.py"), kind, str(mb), str(tmp)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        tmp.rename(path)
    return path


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=1000, help="archive size, MB (10^6 bytes)")
    ap.add_argument("--kind", default="text", choices=["text", "mixed"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--blocksize", default="256MiB")
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "mimeflow"))
    ap.add_argument("--dir", default="/tmp/mimeflow-bench-dask")
    ap.add_argument("--plan-mb", type=int, nargs="*", default=[100, 300, 1000])
    ap.add_argument("--plan-blocksize", default="64MiB")
    ap.add_argument("--s3", action="store_true", help="time planning on moto's S3 server too")
    args = ap.parse_args()

    import pyarrow as pa
    from distributed import Client, LocalCluster

    import mimeflow
    import mimeflow.dask

    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    print("cpu: %s; %d cores" % (cpu_model(), os.cpu_count() or 0))
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    if not os.path.exists(args.cli):
        sys.exit("no CLI at %s: cargo build --release --features cli --bin mimeflow" % args.cli)

    src = archive(args.kind, args.mb, folder)
    size = src.stat().st_size
    print("archive: %s, %.1f MB" % (src, size / 1e6))

    t = time.perf_counter()
    cluster = LocalCluster(
        n_workers=args.workers,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = Client(cluster)
    client.wait_for_workers(args.workers)
    print("cluster start (excluded below): %.2f s" % (time.perf_counter() - t))

    schema = pa.schema(mimeflow.schema())
    work = pathlib.Path(tempfile.mkdtemp(prefix="mimeflow-dask-bench-", dir=folder))
    counts = {}

    def run_dask():
        out = work / "dask"
        shutil.rmtree(out, ignore_errors=True)
        df = mimeflow.dask.read_mbox(str(src), blocksize=args.blocksize, threads=1)
        df.to_parquet(str(out), write_index=False, schema=schema)
        counts["dask_parts"] = df.npartitions

    def run_cli():
        out = work / "cli"
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(
            [args.cli, "-q", "convert", str(src), "--to", "parquet", str(out),
             "-j", str(args.workers)],
            check=True,
        )

    times = {"dask": [], "cli": []}
    try:
        for i in range(args.runs):
            times["dask"].append(timed(run_dask))
            times["cli"].append(timed(run_cli))
            print("run %d: dask %.2f s, cli %.2f s" % (i + 1, times["dask"][-1], times["cli"][-1]))
        import pyarrow.parquet as pq

        rows_dask = pq.ParquetDataset(str(work / "dask")).read(columns=["sha256"]).num_rows
        rows_cli = pq.ParquetDataset(str(work / "cli" / "messages")).read(
            columns=["sha256"]
        ).num_rows
        assert rows_dask == rows_cli, (rows_dask, rows_cli)
        d, c = statistics.median(times["dask"]), statistics.median(times["cli"])
        print(
            "medians of %d: read_mbox(...).to_parquet %.2f s (%d partitions of %s), "
            "convert --to parquet -j%d %.2f s; overhead %+.1f%% (target <= +25%% at 1 GB); "
            "%d messages"
            % (args.runs, d, counts["dask_parts"], args.blocksize, args.workers, c,
               (d / c - 1) * 100, rows_dask)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        client.close()
        cluster.close()

    plan_sizes = [(mb, archive(args.kind, mb, folder)) for mb in args.plan_mb]
    for mb, path in plan_sizes:
        t = time.perf_counter()
        _, pieces = mimeflow.dask.plan(str(path), blocksize=args.plan_blocksize)
        print("plan, local file, %d MB: %.3f s, %d pieces"
              % (mb, time.perf_counter() - t, len(pieces)))
    if args.s3:
        plan_s3(plan_sizes, args.plan_blocksize)


def plan_s3(plan_sizes, blocksize):
    import boto3
    from moto.server import ThreadedMotoServer

    import mimeflow.dask

    # moto's server logs every request through werkzeug (verbose=False
    # does not reach that logger): keep the figures readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = "http://127.0.0.1:%d" % port
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="bench",
            aws_secret_access_key="bench", region_name="us-east-1",
        )
        s3.create_bucket(Bucket="bench")
        opts = {"key": "bench", "secret": "bench", "endpoint_url": endpoint,
                "client_kwargs": {"region_name": "us-east-1"}}
        for mb, path in plan_sizes:
            s3.upload_file(str(path), "bench", path.name)
            import s3fs

            fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
            fetched = [0]
            cat_file = fs.cat_file

            def counting(p, *a, **kw):
                data = cat_file(p, *a, **kw)
                fetched[0] += len(data)
                return data

            fs.cat_file = counting
            t = time.perf_counter()
            _, pieces = mimeflow.dask.plan("s3://bench/" + path.name, blocksize=blocksize,
                                           filesystem=fs)
            print("plan, moto S3, %d MB: %.3f s, %d pieces, %.2f MB fetched"
                  % (mb, time.perf_counter() - t, len(pieces), fetched[0] / 1e6))
            s3.delete_object(Bucket="bench", Key=path.name)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
