"""Run: one execution of a transform, with lamindb's Run fields plus a status.

`reference` / `reference_type` hold the workflow manager's own run id (see docs/design.md's reference
vocabulary); steps are child runs (`initiated_by_run`). The status is stored as lamindb's
`_status_code`; `run.status` gives its name.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flowprov.core.exceptions import InvalidArgument, ValidationError
from flowprov.core.fieldtypes import JSONType, UTCDateTime, utcnow
from flowprov.core.registry.base import Record
from flowprov.core.registry.links import run_input_artifact, run_input_collection, run_output_artifact, run_param
from flowprov.core.registry.managers import OutputArtifactsManager, RecreatedManager, RelatedDescriptor
from flowprov.core.registry.params import ParamManager
from flowprov.core.registry.trash import InBranch
from flowprov.core.uid import base62

if TYPE_CHECKING:
    from flowprov.core.registry.lineage_graph import Lineage

STATUS_CODES = {"scheduled": -3, "restarted": -2, "started": -1, "completed": 0, "errored": 1, "aborted": 2}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}


def status_code(status: str | int) -> int:
    """The `_status_code` for a status name (or a code, checked)."""
    if isinstance(status, bool):
        raise ValidationError({"status": [f"unknown status {status!r}"]})
    if isinstance(status, int):
        if status in STATUS_NAMES:
            return status
    elif status in STATUS_CODES:
        return STATUS_CODES[status]
    raise ValidationError({"status": [f"unknown status {status!r}; use one of {', '.join(STATUS_CODES)}"]})


class Run(InBranch, Record):
    __tablename__ = "flowprov_run"
    __table_args__ = (
        Index("ix_flowprov_run_reference_type_reference", "reference_type", "reference"),
        CheckConstraint("_status_code BETWEEN -3 AND 2", name="status_code_known"),
    )
    _uid_len = 16
    _init_fields = frozenset(
        {
            "name",
            "params",
            "initiated_by_run",
            "started_at",
            "finished_at",
            "aux",
            "environment",
            "report",
            "plan",
            "status",
            "_status_code",
            "uid",
            "created_by",
            "space",
            "created_at",
        }
    )
    _query_aliases = {"params": "_params", "status": "_status_code"}
    # JSON columns with an indexed side table of their leaves (schema 0004): filters read it
    _json_index = {"_params": run_param}
    _query_values = {"status": status_code}
    _checks = (
        (
            "status_code_known",
            ("_status_code",),
            lambda c: c in STATUS_NAMES,
            f"_status_code must be one of {sorted(STATUS_NAMES)}",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str | None] = mapped_column(String(150))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reference: Mapped[str | None] = mapped_column(String(255), index=True)
    reference_type: Mapped[str | None] = mapped_column(String(25))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    aux: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    _params: Mapped[dict[str, Any] | None] = mapped_column("params", JSONType)
    _status_code: Mapped[int] = mapped_column(default=-1)
    transform_id: Mapped[int] = mapped_column(ForeignKey("flowprov_transform.id", ondelete="RESTRICT"), index=True)
    environment_id: Mapped[int | None] = mapped_column(
        ForeignKey("flowprov_artifact.id", ondelete="SET NULL", use_alter=True), index=True
    )
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("flowprov_artifact.id", ondelete="SET NULL", use_alter=True), index=True
    )
    # lamindb 2.x: the (agent) plan the run followed (schema 0005)
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("flowprov_artifact.id", ondelete="SET NULL", use_alter=True), index=True
    )
    initiated_by_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("flowprov_run.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_user.id"))
    space_id: Mapped[int | None] = mapped_column(ForeignKey("flowprov_space.id"))

    transform = relationship("Transform", cascade="")
    environment = relationship("Artifact", foreign_keys=[environment_id], cascade="")
    report = relationship("Artifact", foreign_keys=[report_id], cascade="")
    plan = relationship("Artifact", foreign_keys=[plan_id], cascade="")
    initiated_by_run = relationship("Run", remote_side=[id], foreign_keys=[initiated_by_run_id], cascade="")
    created_by = relationship("User", foreign_keys=[created_by_id], cascade="")
    space = relationship("Space", foreign_keys=[space_id], cascade="")
    _initiated_runs = relationship("Run", foreign_keys=[initiated_by_run_id], viewonly=True)
    _input_artifacts = relationship("Artifact", secondary=run_input_artifact, viewonly=True)
    _output_artifacts = relationship("Artifact", secondary=run_output_artifact, viewonly=True)
    _input_collections = relationship("Collection", secondary=run_input_collection, viewonly=True)
    _output_collections = relationship("Collection", foreign_keys="Collection.run_id", viewonly=True)

    initiated_runs = RelatedDescriptor("_initiated_runs", doc="Runs this run started (steps of a workflow, subflows).")
    input_artifacts = RelatedDescriptor(
        "_input_artifacts", doc="Artifacts this run read.", link_values=lambda a: {"path": a.uri or ""}
    )
    output_artifacts = RelatedDescriptor(
        "_output_artifacts",
        doc="Everything this run wrote: artifacts it created first and ones whose bytes existed already.",
        link_values=lambda a: {"path": a.uri or "", "written_at": utcnow()},
        manager=OutputArtifactsManager,
    )
    recreated_artifacts = RelatedDescriptor(
        "_output_artifacts",
        doc="Artifacts this run wrote whose bytes an earlier run had created (lamindb's recreated_artifacts).",
        manager=RecreatedManager,
    )
    input_collections = RelatedDescriptor("_input_collections", doc="Collections this run read.")
    output_collections = RelatedDescriptor("_output_collections", doc="Collections this run created.")

    def __init__(
        self, transform: Any = None, reference: str | None = None, reference_type: str | None = None, **fields: Any
    ):
        from flowprov.core.registry.transform import Transform

        if transform is None:
            raise TypeError("Run() needs a transform: Run(transform, reference=None, reference_type=None)")
        if not isinstance(transform, Transform):
            # lamindb raises ValueError here, flowprov raised TypeError: InvalidArgument is both
            raise InvalidArgument(f"Run(transform): expected a Transform, got {type(transform).__name__}")
        now = utcnow()
        # Unsaved records take their values straight into __dict__: the insert reads them from
        # there, and skipping attribute instrumentation makes constructing many runs cheap.
        self.__dict__.update(
            uid=base62(16),
            transform=transform,
            reference=reference,
            reference_type=reference_type,
            started_at=now,
            created_at=now,
            _status_code=-1,
            _params=None,
        )
        status = fields.pop("status", None)
        params = fields.pop("params", None)
        self._set_fields(fields)
        if status is not None:
            self._status_code = status_code(status)
        if params is not None:
            if not isinstance(params, dict):
                raise TypeError(f"Run(params=...): expected a dict, got {type(params).__name__}")
            self.params.add_values(params)

    @property
    def status(self) -> str:
        """The status name: scheduled, restarted, started, completed, errored or aborted."""
        return STATUS_NAMES.get(self._status_code, f"unknown({self._status_code})")

    @status.setter
    def status(self, value: str | int) -> None:
        self._status_code = status_code(value)

    @property
    def params(self) -> ParamManager:
        """The run's parameters: `run.params.add_values({...})`, `run.params.get_values()`."""
        return ParamManager(self)

    @params.setter
    def params(self, values: dict[str, Any]) -> None:
        ParamManager(self).set_values(values)

    @staticmethod
    def _unknown_name_prefix(name: str) -> bool:
        """Is a filter name that is no field a param name (lamindb's `Run.filter(genome=...)`)? Only
        when a stored run has that param, so a mistyped field still raises InvalidArgument."""
        return Run.filter(**{f"params__{name}__isnull": False}).exists()

    def clean(self) -> None:
        if self.__dict__.get("transform") is None and self.__dict__.get("transform_id") is None:
            raise ValidationError({"transform": ["a run needs a transform"]})

    def view_lineage(self, direction: str = "upstream", depth: int | None = None) -> Lineage:
        """The lineage graph: Mermaid text when printed, a diagram in Jupyter (Graphviz if installed)."""
        from flowprov.core.registry.lineage import walk

        return walk(self, direction, depth)
