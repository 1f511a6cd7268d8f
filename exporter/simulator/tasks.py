"""The fake cloud's task lookup: scenario tasks by key, generated tasks by their IDs, and the tasks a
list API lists (for list values, or of a service in a project) at the current simulated time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

from exporter.services import ServiceSpec
from exporter.simulator.clock import SimClock
from exporter.simulator.scenario import CreatedTask, Scenario, Task, TaskGenerator, parse_generated_task_id
from exporter.simulator.shapes import SHAPES

__all__ = ["TaskBook", "TaskRef", "materialize"]

# A task in a list before it is built: its creation offset, and the task itself or its generator and n.
# The lists sort these light references and build only the tasks of the page asked for: a long churn
# run has tens of thousands of generated tasks.
TaskRef: TypeAlias = tuple[float, Task | TaskGenerator, int]


def materialize(ref: TaskRef) -> Task:
    _, source, n = ref
    return source.task(n) if isinstance(source, TaskGenerator) else source


class TaskBook:
    """Which tasks exist now, by key and by list."""

    def __init__(self, scenario: Scenario, specs: Mapping[str, ServiceSpec], clock: SimClock) -> None:
        self.scenario, self.specs, self.clock = scenario, specs, clock
        self._tasks: dict[tuple[str, str, str], Task] = {}
        for task in scenario.tasks:
            # Sub-jobs are jobs in their own right and can be queried by their IDs.
            for job in (task, *task.sub_jobs):
                self._tasks[(job.cloud_service, self._project(job.cloud_service, job.project_id), job.task_id)] = job

    def find(self, cloud_service: str, project_id: str, task_id: str) -> Task | None:
        """The task (or sub-job) that exists now under this ID, or None; ``project_id`` is ignored for
        a service whose status path has no project (CodeArts Check)."""
        project = self._project(cloud_service, project_id)
        task = self._tasks.get((cloud_service, project, task_id))
        if task is not None:
            return task
        parsed = parse_generated_task_id(cloud_service, task_id)
        if parsed is None or parsed[0] >= len(self.scenario.generators):
            return None
        generator = self.scenario.generators[parsed[0]]
        if generator.cloud_service != cloud_service or (project and generator.project_id != project):
            return None
        n = parsed[1]
        return generator.task(n) if n <= generator.count_at(self.clock.elapsed()) else None

    def _project(self, cloud_service: str, project_id: str) -> str:
        """The project a task is looked up under: none for a service whose status path has none."""
        spec = self.specs.get(cloud_service)
        return project_id if spec is None or spec.needs_project_id else ""

    def listed(self, cloud_service: str, values: list[str], project_id: str = "") -> list[Task]:
        """The tasks that the service's list API lists for ``values`` (CodeArts projects, CPH request IDs),
        in its order (shapes.yaml: newest first, or value by value in the order given, oldest first)."""
        return [materialize(ref) for ref in self.list_refs(cloud_service, project_id, values)]

    def list_refs(self, cloud_service: str, project_id: str, values: list[str]) -> list[TaskRef]:
        """`listed`, as references."""
        listing, lister = SHAPES[cloud_service].list, self.specs[cloud_service].discover
        assert listing is not None
        assert lister is not None
        project = project_id if "{project_id}" in lister.path else None
        by_value: dict[str, list[TaskRef]] = {value: [] for value in values}
        for value, ref in self._refs(cloud_service, project):
            if value in by_value:
                by_value[value].append(ref)
        if listing.order == "newest":
            # Stable, so equal creation times keep scenario order, then generator order.
            return sorted((ref for refs in by_value.values() for ref in refs), key=lambda ref: -ref[0])
        return [ref for refs in by_value.values() for ref in sorted(refs, key=lambda ref: ref[0])]

    def _refs(self, cloud_service: str, project: str | None) -> Iterator[tuple[str, TaskRef]]:
        """Each task of the service (in `project` unless None) that exists now, with its list value."""
        for task in self.scenario.tasks:
            if task.cloud_service == cloud_service and project in (None, task.project_id):
                yield task.listed_under, (task.created_offset, task, 0)
        elapsed = self.clock.elapsed()
        for generator in self.scenario.generators:
            if generator.cloud_service == cloud_service and project in (None, generator.project_id):
                for n in range(1, generator.count_at(elapsed) + 1):
                    yield generator.list_value, (generator.created_offset(n), generator, n)

    def of_service(self, cloud_service: str, project_id: str) -> list[Task]:
        """The service's scenario tasks in the project ("": any) created by now, newest first."""
        elapsed = self.clock.elapsed()
        tasks: Iterable[Task] = (
            task
            for task in self.scenario.tasks
            if task.cloud_service == cloud_service
            and project_id in ("", task.project_id)
            and task.created_offset <= elapsed
        )
        return sorted(tasks, key=lambda task: -task.created_offset)

    def created(self, since: float = 0.0) -> list[CreatedTask]:
        """The generated tasks created at or after ``since`` (Unix time) and by now, oldest first."""
        elapsed, started_at = self.clock.elapsed(), self.clock.started_at
        created: list[CreatedTask] = []
        for generator in self.scenario.generators:
            for n in range(1, generator.count_at(elapsed) + 1):
                at = started_at + generator.created_offset(n)
                if at >= since:
                    created.append(
                        CreatedTask(at, generator.cloud_service, generator.list_project_id, generator.task_id(n))
                    )
        return sorted(created, key=lambda c: c.created_at)
