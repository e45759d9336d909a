#!/usr/bin/python3
"""Runs one libFuzzer target for a while from its seed corpus: a meson test of the suite fuzz.

    run_fuzzer.py TARGET SEEDS WORKDIR [LIBFUZZER_OPTION ...]

WORKDIR/corpus is emptied and filled with a copy of SEEDS, so that every run starts
from the committed corpus and nothing is written into the source tree. What the run
adds to the corpus stays there until the next run, and so does what libFuzzer keeps of
a finding (crash-*, leak-*, timeout-*, oom-*), in WORKDIR. The exit status is
libFuzzer's: non-zero on a finding, so the test fails.
"""
import pathlib
import shutil
import subprocess
import sys

ARTIFACTS = ("crash-*", "leak-*", "timeout-*", "oom-*", "slow-unit-*")


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    target, seeds, work, options = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4:]
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    # A finding of an earlier run is not this run's.
    for pattern in ARTIFACTS:
        for old in work.glob(pattern):
            old.unlink()
    for seed in sorted(seeds.iterdir()):
        if seed.is_file():
            shutil.copy(seed, corpus / seed.name)
    cmd = [target, *options, f"-artifact_prefix={work}/", str(corpus)]
    print(" ".join(cmd), flush=True)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
