"""`treeindex ingest --scheduler`: ingest on a Dask cluster.

The client (this process) discovers and checks the inputs, trains the index's zstd
dictionary as a local ingest would, checks that every worker sees every input (same path,
size and fingerprint) and runs the same treeindex, and cuts the inputs into shards
(shards.py). Each shard runs on a Dask worker as a complete local ingest, in one process,
into an SQLite file on the worker's local disk (WAL does not work on network filesystems),
which is then moved into the shard directory (shared with the client) under a name that
says which shard it is. The client merges the published shards into the index in input
order as they arrive (merge.py), one transaction each, and deletes them; at the end it
builds the secondary indexes once, as a local ingest does.

Faults: a lost worker's shard is run again by Dask (a shard writes only its own files, and
publishes with a rename); a shard published by an interrupted run is merged, not redone;
what was merged stays, and the same command goes on from there. As many shards are in
flight as the cluster has worker threads.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__, store
from ..errors import InputError, TreeindexError
from ..indexer import (
    CorpusOutcome,
    IngestReport,
    Progress,
    Status,
    _dictionary,
    _plan,
    ingest,
)
from ..pool import stop_signals
from ..sources import discover
from ..store import codec
from ..store.writer import delete_corpus
from .merge import attach, check_compatible, merge_corpus
from .shards import ShardSpec, corpus_paths, plan_shards

DEFAULT_SHARD_MB = 1024


class ClusterError(TreeindexError):
    """The cluster could not do its part (unreachable, a worker that cannot see an input,
    shards that kill their workers)."""


@dataclass(frozen=True)
class ShardJob:
    spec: ShardSpec
    shard_dir: str
    dictionary: bytes | None
    max_children: int
    max_nodes: int
    chunk_bytes: int


def published_path(shard_dir: str | Path, key: str) -> Path:
    return Path(shard_dir) / f"shard-{key}.db"


def run_shard(job: ShardJob) -> str:
    """On a worker: ingest one shard into a local file, publish it, return its path. A shard
    published before (by an interrupted run) is returned as it is."""
    out = published_path(job.shard_dir, job.spec.key)
    if out.exists():
        return str(out)
    if not Path(job.shard_dir).is_dir():
        raise InputError(f"{job.shard_dir}: no such directory on the worker at "
                         f"{socket.gethostname()}; give --shard-dir a directory that every "
                         "worker and this machine share")
    pause = float(os.environ.get("TREEINDEX_SHARD_PAUSE", "0"))  # (tests: time to kill one)
    if pause:
        time.sleep(pause)
    local_dir = Path(tempfile.mkdtemp(prefix=f"treeindex-shard-{job.spec.key}-"))
    try:
        local = local_dir / "shard.db"
        conn = store.connect_write(local, scratch=True)
        try:
            conn.execute("CREATE TABLE shard_terms (id INTEGER PRIMARY KEY, terms TEXT)")
            if job.dictionary is not None:
                store.save_dictionary(conn, job.dictionary)
        finally:
            conn.close()
        ingest(local, list(job.spec.paths), name=job.spec.name, workers=0,
               max_children=job.max_children, max_nodes=job.max_nodes,
               chunk_bytes=job.chunk_bytes, byte_range=job.spec.byte_range,
               build_indexes=False, scratch=True, write_thread=False)
        try:  # the same filesystem: a rename, published whole at once
            os.replace(local, out)
        except OSError:  # another filesystem (the shared one): copy, then rename there
            partial = out.with_suffix(f".{os.getpid()}.partial")
            shutil.copyfile(local, partial)
            os.replace(partial, out)
        return str(out)
    finally:
        shutil.rmtree(local_dir, ignore_errors=True)


def check_worker(corpora: list[tuple[list[str], str | None, str, str, int]],
                 version: str) -> list[str]:
    """On every worker: the problems it has with the inputs (none: [])."""
    if version != __version__:
        return [f"runs treeindex {__version__}, the client {version}; install the same "
                "version on every worker"]
    problems = []
    for paths, name, source, fingerprint, size in corpora:
        try:
            found = discover([Path(p) for p in paths], name).corpora
        except TreeindexError as e:
            problems.append(str(e).splitlines()[0])
            continue
        if len(found) != 1 or found[0].input_bytes != size or \
                found[0].fingerprint != fingerprint:
            problems.append(f"{source}: differs from the client's (size or content)")
    return problems


def _import_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:  # (said when the client is made)
        pass


def _client(scheduler: str) -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError("--scheduler needs Dask: pip install 'treeindex[cluster]'") from None
    # dask logs every lost connection with a traceback; what went wrong is said once, by
    # the error this client raises (the cluster's own logs keep the details)
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)

    try:
        if scheduler.endswith(".json") or Path(scheduler).is_file():
            return distributed.Client(scheduler_file=scheduler, timeout="20s",
                                      set_as_default=False)
        return distributed.Client(scheduler, timeout="20s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({e}); start it "
                           "(dask scheduler) or check the address") from None


def _dask_error(e: BaseException, spec: ShardSpec | None) -> TreeindexError:
    """Dask's errors as treeindex errors that say what happened and what to do."""
    import asyncio

    from distributed import KilledWorker

    where = f" (shard {spec.index + 1}: {spec.name}" + (
        f", bytes {spec.byte_range[0]:,}-{spec.byte_range[1]:,})" if spec and spec.byte_range
        else ")") if spec else ""
    again = "what was merged is kept: run the same command again"
    if isinstance(e, TreeindexError):
        return e
    if isinstance(e, KilledWorker):
        return ClusterError(f"a shard killed the workers that ran it{where}, out of memory or "
                            f"by a crash (see the workers' logs); {again}")
    if isinstance(e, (asyncio.CancelledError, TimeoutError, OSError)) or \
            type(e).__name__ in ("CancelledError", "CommClosedError", "FutureCancelledError"):
        return ClusterError(f"lost the cluster ({type(e).__name__}: {_line(e)}){where}; "
                            f"{again} once the scheduler and workers run")
    return ClusterError(f"a shard failed{where}: {type(e).__name__}: {_line(e)}; {again}")


def _line(e: BaseException) -> str:
    """The first line of an exception's message (dask's run on over several)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else "no message"


def cluster_ingest(
    db_path: Path | str,
    paths: list[Path | str],
    *,
    scheduler: str,
    shard_mb: float = DEFAULT_SHARD_MB,
    shard_dir: Path | str | None = None,
    max_children: int = 7,
    max_nodes: int = 1000,
    replace: bool = False,
    name: str | None = None,
    chunk_bytes: int = 2 << 20,
    progress_callback: Callable[[Progress], None] | None = None,
) -> IngestReport:
    """Index `paths` into `db_path` on the Dask cluster at `scheduler` (an address or a
    scheduler file): the same index a local `ingest` makes, ids included."""
    started = time.perf_counter()
    # dask takes half a second to import: let it load while the inputs are checked
    threading.Thread(target=_import_dask, daemon=True).start()
    db_path = Path(db_path)
    shard_dir = Path(shard_dir) if shard_dir else db_path.with_name(db_path.name + ".shards")
    with stop_signals() as stop:
        discovery = discover([Path(p) for p in paths], name)
        for c in discovery.corpora:
            c.format.check(c)
        report = IngestReport(skipped=discovery.skipped)
        with store.IngestLock(db_path), store.translate_errors(db_path):
            conn = store.connect_write(db_path)
            conn.set_progress_handler(lambda: stop.received is not None, 1_000_000)
            try:
                store.check_settings(conn, db_path, {"max_children": max_children,
                                                     "max_nodes": max_nodes})
                plans = _plan(conn, discovery.corpora, replace)
                dictionary = _dictionary(conn, plans)
                merged: dict[str, int] = {}
                for p in plans:
                    if p.status is Status.REPLACED and p.existing_id is not None:
                        delete_corpus(conn, p.existing_id)
                    elif p.status is Status.RESUMED and p.existing_id is not None:
                        at = conn.execute("SELECT done_bytes, sentences FROM corpora "
                                          "WHERE id = ?", (p.existing_id,)).fetchone()
                        if at[0] == 0 and at[1] == 0:
                            delete_corpus(conn, p.existing_id)
                        else:
                            merged[p.corpus.name] = at[0]
                todo = [p.corpus for p in plans if p.status is not Status.COMPLETE]
                dict_id = codec.dictionary_id(dictionary) if dictionary else 0
                settings = f"{max_children} {max_nodes} {dict_id}"
                specs = plan_shards(todo, max(int(shard_mb * (1 << 20)), 1 << 16), settings,
                                    merged)
                outcomes = {p.corpus.name: CorpusOutcome(p.corpus.name, p.status)
                            for p in plans}
                if specs:
                    shard_dir.mkdir(parents=True, exist_ok=True)
                    jobs = [ShardJob(s, str(shard_dir.resolve()), dictionary, max_children,
                                     max_nodes, chunk_bytes) for s in specs]
                    _run(conn, scheduler, jobs, todo, outcomes, progress_callback)
                for p in plans:
                    row = conn.execute("SELECT sentences, errors FROM corpora WHERE name = ?",
                                       (p.corpus.name,)).fetchone()
                    out = outcomes[p.corpus.name]
                    out.total_sentences, out.total_errors = row if row else (0, 0)
                    report.corpora.append(out)
                store.finish(conn)
            finally:
                conn.close()
        if specs:
            shutil.rmtree(shard_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _half_made_futures_quiet() -> None:
    """Python's hook for exceptions it can only ignore, told to ignore one more quietly:
    distributed's `Future.__del__` failing with an AttributeError on a Future whose
    `__init__` a Ctrl-C interrupted (it has no `_cleared` yet; distributed re-raises it
    when the process is not finalizing). Python printed its traceback after the
    interrupted run's one-line message (seen once in CI). Nothing is lost: that future was
    never submitted. Every other exception still reaches the hook there was."""
    import sys

    previous = sys.unraisablehook
    if getattr(previous, "treeindex", False):
        return

    def hook(unraisable: Any) -> None:
        where = unraisable.object
        if isinstance(unraisable.exc_value, AttributeError) and \
                getattr(where, "__qualname__", "") == "Future.__del__" and \
                getattr(where, "__module__", "").startswith("distributed."):
            return
        previous(unraisable)

    hook.treeindex = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _run(conn: Any, scheduler: str, jobs: list[ShardJob], corpora: list, outcomes: dict,
         progress_callback: Callable[[Progress], None] | None) -> None:
    client = _client(scheduler)
    _half_made_futures_quiet()
    futures: dict[Any, int] = {}  # shard future -> the shard's position
    try:
        _preflight(client, corpora)
        from distributed import as_completed

        threads = max(sum(client.nthreads().values()), 1)
        # shards that finish ahead of an earlier one wait on disk to be merged in order: at
        # most this many shards past the next one to merge are started
        window = 2 * threads
        total = sum(j.spec.input_bytes for j in jobs)
        done_bytes = sentences = nxt = 0
        queue = deque(jobs)
        pending = as_completed([], loop=client.loop)

        def fill() -> None:
            while queue and len(futures) < threads and queue[0].spec.index < nxt + window:
                job = queue.popleft()
                f = client.submit(run_shard, job, key=f"treeindex-{job.spec.key}", pure=False)
                futures[f] = job.spec.index
                pending.add(f)

        fill()
        ready: dict[int, str] = {}
        for f in pending:
            index = futures.pop(f)
            try:
                ready[index] = f.result()
            except Exception as e:
                raise _dask_error(e, jobs[index].spec) from None
            while nxt in ready:  # merge in input order
                spec = jobs[nxt].spec
                path = Path(ready.pop(nxt))
                m = _merge(conn, path, spec)
                path.unlink(missing_ok=True)
                out = outcomes[spec.name]
                out.sentences += m.sentences
                out.subtrees += m.subtrees
                out.errors += m.errors
                done_bytes += spec.input_bytes
                sentences += m.sentences
                if progress_callback:
                    progress_callback(Progress(spec.name, done_bytes, total, sentences))
                nxt += 1
            fill()
    except TreeindexError:
        raise
    except Exception as e:  # the cluster went away under us
        raise _dask_error(e, None) from None
    finally:
        for f in futures:
            f.cancel()
        try:
            client.close(timeout=5)
        except Exception:  # noqa: BLE001 - closing a client of a lost scheduler
            pass


def _preflight(client: Any, corpora: list) -> None:
    described = [(list(corpus_paths(c)), c.name, c.source_text, c.fingerprint, c.input_bytes)
                 for c in corpora]
    try:
        answers = client.run(check_worker, described, __version__)
    except Exception as e:  # noqa: BLE001
        raise _dask_error(e, None) from None
    if not answers:
        raise ClusterError("the cluster has no workers; start some (dask worker ADDRESS)")
    for worker, problems in sorted(answers.items()):
        if problems:
            raise ClusterError(f"worker {worker}: {problems[0]}" + (
                f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") +
                "; every worker must see every input at the same path")


def _merge(conn: Any, path: Path, spec: ShardSpec) -> Any:
    if not path.exists():
        raise InputError(f"{path}: the shard a worker published is not there; is the shard "
                         "directory shared between the workers and this machine? "
                         "(--shard-dir)")
    attach(conn, path)
    try:
        with store.atomic(conn):
            check_compatible(conn, "shard", str(path))
            (cid,) = conn.execute("SELECT id FROM shard.corpora").fetchone()
            return merge_corpus(conn, "shard", cid, first=spec.first, last=spec.last)
    finally:
        conn.execute("DETACH DATABASE shard")
