"""The worker: the task/result contract (`contract`), the sentence checker (`check`), the
scanners (`_scan.c`, and the Python path in `scan`), and the loop that turns a task into
packed rows (`extract.run_task`). Workers only compute; they never touch the index."""

from .contract import RawSentence, Result, Rows, Task, TaskInput
from .extract import extract_rows, run_task

__all__ = ["RawSentence", "Result", "Rows", "Task", "TaskInput", "extract_rows", "run_task"]
