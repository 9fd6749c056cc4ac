"""Writes one benchmark's section of BENCHMARKS.md (between `<!-- name:begin -->` and
`<!-- name:end -->`) into a copy at $OUT/BENCHMARKS.md, for copying back over the project's."""
import datetime
import os
import sys


def measuring_args(own=("--out", "--benchmarks-md")):
    """This script's arguments after the library, less those that only say where results go."""
    argv, kept = sys.argv[2:], []
    while argv:
        a = argv.pop(0)
        if a in own:
            argv = argv[1:]
        elif not any(a.startswith(o + "=") for o in own):
            kept.append(a)
    return " ".join(kept)


def record(benchmarks_md, name, title, script, table):
    """Replaces (or appends) section `name`: a dated title, the command that measured, the table."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    path = os.path.join(os.environ.get("OUT") or ".", "BENCHMARKS.md")
    # A copy this run already wrote holds the other benchmarks' new sections: build on it.
    with open(path if os.path.exists(path) else benchmarks_md) as f:
        text = f.read()
    extra = measuring_args()
    section = "\n".join([
        begin,
        f"## {title} ({datetime.date.today().isoformat()})",
        "",
        "On the GPU machine (README, section CUDA), from the repository root, with the library that",
        "Maven built on the CPU machine; the script writes this section into $OUT/BENCHMARKS.md:",
        "",
        "```",
        "cuda-ops/gpu-tests/run_all.sh --library cuda-ops/target/classes/native/linux-x86_64/libflash_sigmoid.so"
        + (f"  # {script} {extra}" if extra else ""),
        "```",
        "",
        table.rstrip(),
        end,
    ])
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path)
