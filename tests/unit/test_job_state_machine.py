"""The job state machine (domain/jobs.py): a hypothesis rule-based model plus plain tests of
each change function."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import ConflictError
from domain.jobs import (
    ALLOWED,
    SINGLE_ITEM_KINDS,
    TERMINAL,
    IllegalTransitionError,
    Job,
    JobKind,
    JobStatus,
    accepted_status,
    can_transition,
    finish,
    mark_stale,
    new_job,
    queued_progress,
    report_progress,
    request_cancel,
    requeue,
    salvaging,
    settle_request,
    start,
    was_started_at,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def queued(kind: str = JobKind.BATCH_DIR, total: int | None = 4) -> Job:
    return new_job(
        job_id="job-1",
        kind=kind,
        owner_key_id="alice",
        owner_role="client",
        request={"data_dir": "d"},
        at=T0,
        total=total,
    )


class JobLifecycle(RuleBasedStateMachine):
    """Any sequence of change functions, legal or not, keeps every job invariant."""

    def __init__(self) -> None:
        super().__init__()
        self.job = queued()
        self.clock = T0
        self.starts = 0
        self.terminal: Job | None = None
        self.canceled_while_queued = False
        self.cancel_acknowledged = False

    def _apply(self, change: Callable[[Job, datetime], Job]) -> None:
        self.clock += timedelta(seconds=1)
        before = self.job
        try:
            after = change(before, self.clock)
        except IllegalTransitionError:
            return  # the pure functions leave the (frozen) job as it was
        if after.status is not before.status:
            assert after.status in ALLOWED[before.status], (before.status, after.status)
        assert after.updated_at == self.clock and after.job_id == before.job_id
        if after.status is JobStatus.RUNNING and before.status is JobStatus.QUEUED:
            self.starts += 1
        if after.status is JobStatus.CANCELED and before.status is JobStatus.QUEUED and self.starts == 0:
            self.canceled_while_queued = True
        if after.cancel_requested and after.status is JobStatus.RUNNING:
            self.cancel_acknowledged = True
        self.job = after

    @rule()
    def begin(self) -> None:
        self._apply(lambda j, at: start(j, at=at))

    @rule(result=st.none() | st.just("batches/x.json"))
    def succeed(self, result: str | None) -> None:
        self._apply(
            lambda j, at: finish(
                j, JobStatus.SUCCEEDED, at=at, result_rel=result, result_meta={"n": 1}
            )
        )

    @rule()
    def fail(self) -> None:
        self._apply(lambda j, at: finish(j, JobStatus.FAILED, at=at, error={"code": "x"}))

    @rule()
    def cancel(self) -> None:
        self._apply(lambda j, at: request_cancel(j, at=at))

    @rule()
    def stop_after_cancel(self) -> None:
        self._apply(lambda j, at: finish(j, JobStatus.CANCELED, at=at))

    @rule(done=st.integers(min_value=0, max_value=4))
    def progress(self, done: int) -> None:
        snapshot = {
            "stage": "extracting",
            "total": 4,
            "done": done,
            "ok": done,
            "err": 0,
            "current": None,
        }
        self._apply(lambda j, at: report_progress(j, snapshot, at=at))

    @rule()
    def take_back(self) -> None:
        self._apply(lambda j, at: requeue(j, at=at))

    @rule()
    def stale(self) -> None:
        self._apply(lambda j, at: mark_stale(j, at=at))

    @rule(sha=st.none() | st.just("f" * 64))
    def settle(self, sha: str | None) -> None:
        before = self.job
        self._apply(lambda j, at: settle_request(j, {"plan": {"items": []}}, request_sha256=sha, at=at))
        assert self.job.status is before.status

    @rule(live=st.sampled_from([JobStatus.QUEUED, JobStatus.RUNNING]))
    def finish_to_a_live_status(self, live: JobStatus) -> None:
        self._apply(lambda j, at: finish(j, live, at=at))

    @invariant()
    def status_is_one_of_the_five(self) -> None:
        assert self.job.status in set(JobStatus) and len(JobStatus) == 5

    @invariant()
    def terminal_states_never_change(self) -> None:
        if self.terminal is not None:
            assert self.job == self.terminal
        elif self.job.is_terminal:
            self.terminal = self.job

    @invariant()
    def started_at_set_iff_it_ever_ran(self) -> None:
        assert (self.job.started_at is not None) == (self.starts > 0)

    @invariant()
    def finished_at_set_iff_terminal(self) -> None:
        assert (self.job.finished_at is not None) == (self.job.status in TERMINAL)

    @invariant()
    def canceled_while_queued_never_started(self) -> None:
        if self.canceled_while_queued:
            assert self.job.started_at is None and self.starts == 0

    @invariant()
    def attempts_count_the_starts(self) -> None:
        assert self.job.attempts == self.starts

    @invariant()
    def an_acknowledged_cancel_never_ends_succeeded(self) -> None:
        if self.cancel_acknowledged:
            assert self.job.status is not JobStatus.SUCCEEDED
            if self.job.status is JobStatus.QUEUED:
                raise AssertionError("a job whose cancel was acknowledged went back to the queue")

    @invariant()
    def progress_stage_follows_a_final_status(self) -> None:
        if self.job.is_terminal:
            assert self.job.progress is not None
            assert self.job.progress["stage"] == self.job.status.value


TestJobLifecycle = JobLifecycle.TestCase
TestJobLifecycle.settings = settings(max_examples=300, stateful_step_count=20, deadline=None)


# --- plain tests of each change function --------------------------------------------------

AT = T0 + timedelta(minutes=1)


def running(**kwargs: object) -> Job:
    return start(queued(**kwargs), at=T0 + timedelta(seconds=30))  # type: ignore[arg-type]


def test_the_allowed_table_is_spec_section_7_plus_the_requeue_of_adr_0052() -> None:
    pairs = {(s, t) for s, targets in ALLOWED.items() for t in targets}
    assert pairs == {
        (JobStatus.QUEUED, JobStatus.RUNNING),
        (JobStatus.QUEUED, JobStatus.CANCELED),
        (JobStatus.RUNNING, JobStatus.SUCCEEDED),
        (JobStatus.RUNNING, JobStatus.FAILED),
        (JobStatus.RUNNING, JobStatus.CANCELED),
        (JobStatus.RUNNING, JobStatus.QUEUED),
    }
    assert all(not can_transition(s, t) for s in TERMINAL for t in JobStatus)


def test_illegal_transitions_are_conflicts() -> None:
    assert issubclass(IllegalTransitionError, ConflictError)
    with pytest.raises(IllegalTransitionError) as caught:
        finish(queued(), JobStatus.SUCCEEDED, at=AT)
    assert caught.value.code == "conflict"
    assert caught.value.details == {"status": "queued", "target": "succeeded"}


def test_new_job_is_queued_with_queued_progress() -> None:
    job = new_job(
        job_id="j",
        kind=JobKind.EXTRACT,
        owner_key_id="alice",
        owner_role="client",
        request={},
        at=T0,
        idempotency_key="k",
        request_sha256="s",
    )
    assert job.status is JobStatus.QUEUED and job.created_at == job.updated_at == T0
    assert job.progress == queued_progress(None)
    assert (job.idempotency_key, job.request_sha256, job.attempts) == ("k", "s", 0)
    assert job.started_at is None and job.finished_at is None and not job.cancel_requested


def test_start_runs_a_queued_job_and_counts_the_attempt() -> None:
    job = start(queued(), at=AT)
    assert job.status is JobStatus.RUNNING and job.started_at == AT and job.updated_at == AT
    assert job.attempts == 1 and job.finished_at is None
    assert job.progress is not None and job.progress["stage"] == "extracting"
    assert job.progress["total"] == 4


def test_start_of_an_extract_job_says_running() -> None:
    job = start(queued(kind=JobKind.EXTRACT, total=None), at=AT)
    assert job.progress is not None and job.progress["stage"] == "running"


@pytest.mark.parametrize("end", sorted(TERMINAL))
def test_start_refuses_anything_but_queued(end: JobStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        start(running(), at=AT)
    ended = finish(running(), end, at=AT)
    with pytest.raises(IllegalTransitionError):
        start(ended, at=AT + timedelta(seconds=1))


def test_finish_succeeded_keeps_the_result() -> None:
    job = finish(
        running(),
        JobStatus.SUCCEEDED,
        at=AT,
        result_rel="batches/r.json",
        result_meta={"item_count": 3},
    )
    assert job.status is JobStatus.SUCCEEDED and job.finished_at == AT and job.updated_at == AT
    assert job.result_rel == "batches/r.json" and job.result_meta == {"item_count": 3}
    assert job.error is None and job.progress is not None and job.progress["stage"] == "succeeded"


def test_finish_failed_keeps_the_error() -> None:
    job = finish(running(), JobStatus.FAILED, at=AT, error={"code": "upstream_error"})
    assert job.status is JobStatus.FAILED and job.error == {"code": "upstream_error"}
    assert job.progress is not None and job.progress["stage"] == "failed"


@pytest.mark.parametrize("target", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_finish_refuses_a_live_target(target: JobStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        finish(running(), target, at=AT)


def test_request_cancel_of_a_queued_job_cancels_it_at_once() -> None:
    job = request_cancel(queued(), at=AT)
    assert job.status is JobStatus.CANCELED and job.cancel_requested is True
    assert job.finished_at == AT and job.started_at is None and job.attempts == 0
    assert job.progress is not None and job.progress["stage"] == "canceled"


def test_request_cancel_of_a_running_job_only_asks_it_to_stop() -> None:
    before = running()
    job = request_cancel(before, at=AT)
    assert job.status is JobStatus.RUNNING and job.cancel_requested is True
    assert job.updated_at == AT and job.finished_at is None and job.progress == before.progress
    assert request_cancel(job, at=AT + timedelta(seconds=1)).cancel_requested is True


@pytest.mark.parametrize(("target", "item_ok", "counts"), [
    (JobStatus.SUCCEEDED, True, {"done": 1, "ok": 1, "err": 0}),
    (JobStatus.SUCCEEDED, False, {"done": 1, "ok": 0, "err": 1}),  # a result with an error
    (JobStatus.FAILED, False, {"done": 1, "ok": 0, "err": 1}),
])
def test_finish_of_a_single_item_job_counts_its_item(target: JobStatus, item_ok: bool,
                                                     counts: dict[str, int]) -> None:
    """Issue 13, item 8: a single-item job's progress counts its one item like a batch's."""
    job = finish(start(queued(kind=JobKind.EXTRACT, total=1), at=AT), target, at=AT, item_ok=item_ok)
    assert job.progress == {"stage": target.value, "total": 1, "current": None, **counts}
    assert JobKind.EXTRACT in SINGLE_ITEM_KINDS


def test_a_cancel_acknowledged_meanwhile_still_counts_the_finished_item() -> None:
    job = request_cancel(start(queued(kind=JobKind.EXTRACT, total=1), at=AT), at=AT)
    job = finish(job, JobStatus.SUCCEEDED, at=AT, item_ok=True)
    assert job.status is JobStatus.CANCELED and job.progress is not None
    assert (job.progress["done"], job.progress["ok"], job.progress["stage"]) == (1, 1, "canceled")


def test_finish_without_an_item_outcome_keeps_the_batch_counts() -> None:
    job = report_progress(start(queued(), at=AT), {"stage": "finalizing", "total": 4, "done": 4, "ok": 3, "err": 1,
                                                  "current": None}, at=AT)
    assert finish(job, JobStatus.SUCCEEDED, at=AT).progress == {
        "stage": "succeeded", "total": 4, "done": 4, "ok": 3, "err": 1, "current": None}


@pytest.mark.parametrize("end", sorted(TERMINAL))
def test_request_cancel_of_a_finished_job_is_a_conflict(end: JobStatus) -> None:
    with pytest.raises(IllegalTransitionError) as caught:
        request_cancel(finish(running(), end, at=AT), at=AT)
    assert caught.value.details == {"status": end.value}


def test_report_progress_moves_only_while_running() -> None:
    snapshot = {"stage": "extracting", "total": 4, "done": 2, "ok": 1, "err": 1, "current": "b"}
    job = report_progress(running(), snapshot, at=AT)
    assert job.progress == snapshot and job.updated_at == AT and job.status is JobStatus.RUNNING
    with pytest.raises(IllegalTransitionError):
        report_progress(queued(), snapshot, at=AT)
    with pytest.raises(IllegalTransitionError):
        report_progress(finish(running(), JobStatus.FAILED, at=AT), snapshot, at=AT)


def test_mark_stale_fails_a_running_job_and_keeps_its_partial_result() -> None:
    partial = running()
    partial = msgspec.structs.replace(partial, result_rel="batches/p.json", result_meta={"done": 2})
    job = mark_stale(partial, at=AT)
    assert job.status is JobStatus.FAILED and job.finished_at == AT
    assert job.error is not None and job.error["code"] == "stale_after_restart"
    assert job.error["retryable"] is True
    assert job.result_rel == "batches/p.json" and job.result_meta == {"done": 2}


def test_mark_stale_refuses_a_job_that_is_not_running() -> None:
    with pytest.raises(IllegalTransitionError):
        mark_stale(queued(), at=AT)
    with pytest.raises(IllegalTransitionError):
        mark_stale(finish(running(), JobStatus.SUCCEEDED, at=AT), at=AT)


def test_settle_request_records_the_complete_upload_until_the_job_is_final() -> None:
    job = settle_request(running(), {"plan": {"items": [1, 2]}}, request_sha256="abc", at=AT, total=2)
    assert job.status is JobStatus.RUNNING and job.request == {"plan": {"items": [1, 2]}}
    assert job.progress and job.progress["total"] == 2 and job.progress["stage"] == "extracting"
    assert job.request_sha256 == "abc" and job.updated_at == AT
    canceled = request_cancel(queued(), at=AT)
    with pytest.raises(IllegalTransitionError):
        settle_request(canceled, {"plan": {}}, request_sha256="abc", at=AT)


def test_requeue_puts_a_running_job_back_with_its_attempts_and_progress() -> None:
    job = report_progress(running(), {"stage": "extracting", "total": 4, "done": 2, "ok": 2, "err": 0,
                                      "current": "b.png"}, at=AT)
    back = requeue(job, at=AT + timedelta(seconds=1))
    assert back.status is JobStatus.QUEUED and back.attempts == 1 and back.finished_at is None
    assert back.progress is not None and back.progress["stage"] == "queued" and back.progress["done"] == 2
    again = start(back, at=AT + timedelta(seconds=2))
    assert again.status is JobStatus.RUNNING and again.attempts == 2


def test_a_job_handed_back_in_good_order_does_not_use_up_an_attempt() -> None:
    back = requeue(running(), at=AT, handed_back=True)
    assert back.status is JobStatus.QUEUED and back.attempts == 0
    assert start(back, at=AT + timedelta(seconds=1)).attempts == 1


def test_requeue_of_a_job_whose_cancel_was_acknowledged_cancels_it() -> None:
    asked = request_cancel(running(), at=AT)
    ended = requeue(asked, at=AT + timedelta(seconds=1))
    assert ended.status is JobStatus.CANCELED and ended.finished_at is not None


@pytest.mark.parametrize("end", sorted(TERMINAL))
def test_requeue_refuses_a_job_that_is_not_running(end: JobStatus) -> None:
    with pytest.raises(IllegalTransitionError):
        requeue(queued(), at=AT)
    with pytest.raises(IllegalTransitionError):
        requeue(finish(running(), end, at=AT), at=AT + timedelta(seconds=1))


def test_finishing_succeeded_after_an_acknowledged_cancel_is_canceled() -> None:
    asked = request_cancel(running(), at=AT)
    ended = finish(asked, JobStatus.SUCCEEDED, at=AT + timedelta(seconds=1), result_rel="jobs/x.json")
    assert ended.status is JobStatus.CANCELED and ended.result_rel == "jobs/x.json"
    assert ended.progress is not None and ended.progress["stage"] == "canceled"
    failed = finish(asked, JobStatus.FAILED, at=AT + timedelta(seconds=1))
    assert failed.status is JobStatus.FAILED


def test_a_retried_start_recognises_its_own_start() -> None:
    at = AT
    job = start(queued(), at=at)
    assert was_started_at(job, at) and not was_started_at(job, at + timedelta(seconds=1))
    assert not was_started_at(queued(), at)


def test_salvaging_starts_after_the_last_allowed_attempt() -> None:
    job = running()
    assert not salvaging(job, 1)
    for n in range(2):
        job = start(requeue(job, at=AT + timedelta(seconds=n)), at=AT + timedelta(seconds=n, milliseconds=1))
    assert job.attempts == 3 and not salvaging(job, 3) and salvaging(job, 2)


def test_the_202_status_is_queued_until_work_started_then_running() -> None:
    """Issue 13, item 11: a 202 says `queued` or `running`, never a final status."""
    job = queued(kind=JobKind.BATCH_UPLOAD)
    assert accepted_status(job) == "queued"
    assert accepted_status(request_cancel(job, at=AT)) == "queued"  # canceled before it ran
    started = start(job, at=AT)
    assert accepted_status(started) == "running"
    assert accepted_status(finish(started, JobStatus.SUCCEEDED, at=AT)) == "running"
    assert accepted_status(requeue(started, at=AT)) == "running"  # it did start; it resumes
