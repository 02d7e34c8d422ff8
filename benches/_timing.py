"""Timing helpers the Python benchmarks share: medians of repeated timeit
runs, sizes for humans, and the CPU line every figure is reported with.
Imported as ``from _timing import ...`` (a benchmark run as a script has
``benches/`` on its path)."""

import platform
import statistics
import timeit


def _calibrate(timer, min_time):
    """The number of calls a run of `timer` needs to last `min_time`, and
    the seconds the last trial took."""
    number = 1
    while True:
        t = timer.timeit(number)
        if t >= min_time:
            return number, t
        number = max(number * 2, int(number * min_time / max(t, 1e-9) * 1.2))


def measure(fn, arg, repeat, min_time=0.02):
    """Median seconds per call over `repeat` runs of >= `min_time` each."""
    timer = timeit.Timer(lambda: fn(arg))
    number, t = _calibrate(timer, min_time)
    runs = [t / number] + [timer.timeit(number) / number for _ in range(repeat - 1)]
    return statistics.median(runs)


def human(n):
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


def cpu():
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                if len(fields) == 3:
                    break
    except OSError:
        return platform.processor() or platform.machine()
    return (f"{fields.get('model name', '?')}, cpu family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}")


def measure_interleaved(fns, arg, repeat, min_time=0.02):
    """Median seconds per call of each callable in `fns` (a dict), the runs
    taken in turn (a, b, c, a, b, c, ...) so that a slow spell of a shared
    machine falls on every contender alike."""
    timers = {k: timeit.Timer(lambda f=f: f(arg)) for k, f in fns.items()}
    numbers = {k: _calibrate(timer, min_time)[0] for k, timer in timers.items()}
    runs = {k: [] for k in fns}
    for _ in range(repeat):
        for k, timer in timers.items():
            runs[k].append(timer.timeit(numbers[k]) / numbers[k])
    return {k: statistics.median(v) for k, v in runs.items()}
