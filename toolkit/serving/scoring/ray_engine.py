"""The ``ray`` engine: Ray Data ``read_*`` -> ``map_batches`` (an actor pool) -> ``write_parquet``/``write_json``.

Each actor loads the bundle once (:class:`RayScorer`). The bundle reaches the
actors as bytes through the object store (``ship="bytes"``, the default: works
on a cluster without shared storage) or by path (``ship="path"``). One Ray
Data pipeline runs per input file, so each output is named after its input,
is moved into place when complete and can be skipped by ``--resume``; blocks
keep their order (``preserve_order``), so ``part-000000``, ``part-000001``...
hold the input's rows in order.

``address=None`` starts a local Ray (loopback only, see DESIGN.md) and shuts it
down afterwards; a Ray already initialised in this process is used as it is.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from toolkit.core.errors import ScoringError, ToolkitError
from toolkit.serving.scoring.core import engine_failure
from toolkit.core.atomic import remove_path, temp_path
from toolkit.serving.scoring.io import GROUP_NAME, Job, count_rows


#: Logical CPUs asked for by each read and write task (they do little work next to scoring).
IO_TASK_CPUS = 0.25


#: Ray's ``include_paths`` column, and the partition column of grouped writes.
PATH_COLUMN = "path"
PART_COLUMN = "__toolkit_part"
#: A grouped pipeline reads at most this many input bytes (a killed run loses at most one group).
GROUP_BYTES = 1 << 30


class RayScorer:
    """The ``map_batches`` callable class: one runtime per actor, pyarrow tables in and out.

    ``parts`` (grouped pipelines): input path -> output index; the batch's ``path``
    column (``include_paths=True``) is replaced by that index, which the write
    partitions on. Without ``parts`` the batch comes from the one file ``source``.
    """

    def __init__(self, bundle: Any, text_field: str, label_column: str, source: str = "",
                 parts: dict[str, int] | None = None):
        import ray

        from toolkit.serving.scoring.core import TableScorer

        if isinstance(bundle, ray.ObjectRef):
            bundle = ray.get(bundle)
        threads = int(os.environ.get("TOOLKIT_SCORE_THREADS", "1"))
        self.scorer = TableScorer(bundle, text_field, label_column, threads=threads)
        self.source = source
        self.parts = parts

    def __call__(self, batch: Any) -> Any:
        if self.parts is None:
            return self.scorer.score_table(batch, self.source, 0)
        import pyarrow as pa
        import pyarrow.compute as pc

        from toolkit.serving.scoring.io import text_values

        paths = batch.column(PATH_COLUMN)
        batch = batch.drop_columns([PATH_COLUMN])
        column = batch.column(self.scorer.text_field)
        if column.null_count or not pa.types.is_string(column.type):
            for path in pc.unique(paths).to_pylist():  # name the file at fault
                text_values(batch.filter(pc.equal(paths, path)), self.scorer.text_field, path, 0)
        scored = self.scorer.score_table(batch, self.source, 0)
        index = [self._part(path) for path in paths.to_pylist()]
        return scored.append_column(PART_COLUMN, pa.array(index, type=pa.int32()))

    def _part(self, path: str) -> int:
        assert self.parts is not None
        found = self.parts.get(path)
        if found is None:
            found = self.parts.get(os.path.abspath(path.split("://", 1)[-1]))
        if found is None:
            raise RuntimeError(f"ray read a file that was not asked for: {path}")
        return found


def _part_names(fmt: str) -> Any:
    from ray.data.datasource import FilenameProvider

    class PartNames(FilenameProvider):
        """``part-<task>.<fmt>``: sorted names keep the order of the write tasks."""

        def get_filename_for_task(self, write_uuid: str, task_index: int) -> str:
            return f"part-{task_index:06}.{fmt}"

        def get_filename_for_block(self, block: Any, write_uuid: str, task_index: int, block_index: int) -> str:
            return f"part-{task_index:06}-{block_index:06}.{fmt}"

    return PartNames()


def read_dataset(kind: str, paths: list[str], text_field: str, include_paths: bool = False) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import ray

    common: dict[str, Any] = dict(num_cpus=IO_TASK_CPUS, include_paths=include_paths)
    if kind == "parquet":
        return ray.data.read_parquet(paths, **common)
    if kind == "jsonl":
        return ray.data.read_json(paths, **common)  # pyarrow's reader: JSON lines
    return ray.data.read_csv(
        paths, **common, parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(column_types={text_field: pa.string()}, strings_can_be_null=False),
    )


def score_ray(jobs: Sequence[Job], bundle: Path, advance: Callable[[int], None], done: Callable[[Job, int], None], *,
              text_field: str, label_column: str, fmt: str, batch_rows: int, concurrency: int | None,
              address: str | None, num_cpus: int | None, ship: str, show_progress: bool = False,
              out_dir: Path | None = None) -> None:
    """Score every job with Ray Data; each output is a folder of ``part-*`` files. On a cluster (``address``),
    every node must see the inputs and ``out_dir`` (and the bundle with ``ship="path"``): checked first."""
    from toolkit.core.ray_cluster import RaySession, import_ray
    from toolkit.core.shared_storage import check_ray_nodes
    from toolkit.serving.scoring.core import cluster_needs, pack_bundle

    ray = import_ray(("data",), "Ray Data")  # binds a local Ray to 127.0.0.1 (set before Ray is imported)
    with RaySession(address, workers=1, num_cpus=num_cpus, client=False):
        if address is not None:
            check_ray_nodes(cluster_needs(jobs, bundle, ship, out_dir))
        ctx = ray.data.DataContext.get_current()
        saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = show_progress
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            payload: Any = ray.put(pack_bundle(bundle)) if ship == "bytes" else str(Path(bundle).resolve())
            cpus = float(ray.cluster_resources().get("CPU", 1))
            actors = concurrency or max(1, int(cpus))
            # Leave one logical CPU to the (light) listing, read and write tasks, or a pool that takes
            # every CPU starves them and the pipeline waits for ever (the OS still shares the real cores).
            actor_cpus = 1.0 if cpus >= actors + 1 else max(0.1, (cpus - 1) / actors)
            options = dict(payload=payload, text_field=text_field, label_column=label_column,
                           batch_rows=batch_rows, actors=actors, actor_cpus=actor_cpus)
            if fmt == "parquet":
                for group in plan_groups(jobs):
                    for job, rows in _score_group(group, **options):
                        advance(rows)
                        done(job, rows)
            else:  # write_json cannot partition: one pipeline per input file
                for job in jobs:
                    rows = _score_one(job, **options)
                    advance(rows)
                    done(job, rows)
        finally:
            ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved


def plan_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """Jobs of one input format, in order, cut so that each group reads at most ``GROUP_BYTES``."""
    groups: list[list[Job]] = []
    size = 0
    kinds = list(dict.fromkeys(job.kind for job in jobs))
    for job in sorted(jobs, key=lambda j: kinds.index(j.kind)):  # stable: the input order within a format
        nbytes = job.source.stat().st_size
        if not groups or groups[-1][0].kind != job.kind or size + nbytes > GROUP_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(job)
        size += nbytes
    return groups


def _score_group(group: list[Job], *, payload: Any, text_field: str, label_column: str, batch_rows: int,
                 actors: int, actor_cpus: float) -> list[tuple[Job, int]]:
    """One Ray Data pipeline over several files; Parquet partitioned by input, each part moved into place."""
    import ray

    tmp = temp_path(group[0].out.parent / GROUP_NAME)
    parts = {str(job.source.resolve()): i for i, job in enumerate(group)}
    for i, job in enumerate(group):
        parts.setdefault(str(job.source), i)
    try:
        ds = read_dataset(group[0].kind, [str(j.source.resolve()) for j in group], text_field, include_paths=True)
        ds = ds.map_batches(
            RayScorer, fn_constructor_kwargs=dict(bundle=payload, text_field=text_field, label_column=label_column,
                                                  source=str(group[0].source), parts=parts),
            batch_size=batch_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus,
        )
        ds.write_parquet(str(tmp), partition_cols=[PART_COLUMN], filename_provider=_part_names("parquet"),
                         ray_remote_args={"num_cpus": IO_TASK_CPUS}, mode="overwrite")
        results = []
        for i, job in enumerate(group):
            written = tmp / f"{PART_COLUMN}={i}"
            rows = count_rows(written, "parquet") if written.exists() else 0
            if not rows:
                raise ScoringError(f"ray wrote no rows for input file {job.source}; no output was written for it")
            results.append((job, rows))
        for (job, _), i in zip(results, range(len(group))):
            job.out.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / f"{PART_COLUMN}={i}", job.out)
        return results
    except ToolkitError:
        raise
    except Exception as exc:
        raise engine_failure(group[0] if len(group) == 1 else None, "ray", exc) from exc
    finally:
        remove_path(tmp)


def _score_one(job: Job, *, payload: Any, text_field: str, label_column: str, batch_rows: int,
               actors: int, actor_cpus: float) -> int:
    import ray

    tmp = temp_path(job.out)
    fmt = "jsonl"
    try:
        ds = read_dataset(job.kind, [str(job.source)], text_field).map_batches(
            RayScorer, fn_constructor_kwargs=dict(bundle=payload, text_field=text_field, label_column=label_column,
                                                  source=str(job.source)),
            batch_size=batch_rows, batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=actor_cpus,
        )
        io_args = {"num_cpus": IO_TASK_CPUS}
        ds.write_json(str(tmp), filename_provider=_part_names("jsonl"), ray_remote_args=io_args, mode="overwrite",
                      force_ascii=False)
        rows = count_rows(tmp, fmt) if tmp.exists() else 0
        if not rows:
            raise ScoringError(f"ray wrote no rows for input file {job.source}; no output was written for it")
        job.out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, job.out)
        return rows
    except ToolkitError:
        raise
    except Exception as exc:
        raise engine_failure(job, "ray", exc) from exc
    finally:
        remove_path(tmp)
