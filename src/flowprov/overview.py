"""`ln.view()`: the latest records of every registry, printed (lamindb's overview of an instance)."""

from __future__ import annotations

REGISTRIES = ("Transform", "Run", "Artifact", "Collection", "Storage", "Space", "User")


def view(limit: int = 7, modules: str | None = None, registries: list[str] | None = None) -> None:
    """Print the `limit` newest records of each registry that has any.

    `modules`: lamindb's module names; flowprov's registries are all lamindb's "core" module, so
    any other name shows nothing. `registries`: only these (e.g. `["Run", "Artifact"]`).
    """
    import flowprov

    if modules is not None and "core" not in modules.split(","):
        return
    unknown = sorted(set(registries or ()) - set(REGISTRIES))
    if unknown:
        raise ValueError(f"view(registries=...): unknown {', '.join(unknown)}; known: {', '.join(REGISTRIES)}")
    for name in registries or REGISTRIES:
        model = getattr(flowprov, name)
        df = model.filter().order_by("-id").df(limit=limit)
        if len(df) == 0:
            continue
        print(f"{name}\n{'-' * len(name)}")
        print(df.to_string())
        print()
