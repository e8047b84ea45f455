"""`contiguify list`: every profile's sites, or the attention entry points a checkout uses."""

from __future__ import annotations

import os

import click


@click.command(name="list")
@click.option("--entry-points", "entry_points", is_flag=True,
              help="List the attention entry points instead: the working directory's project's declared ones "
                   "(tool.contiguify.entry-points), then the built-in ones.")
def list_sites(entry_points: bool) -> None:
    """Every profile's sites, one line each: profile, site id, what it does, before -> after."""
    if entry_points:
        _list_entry_points()
        return
    from codemod.rewrite.profiles import all_profiles

    for profile in all_profiles().values():
        for site in profile.sites():
            click.echo(f"{profile.name}\t{site.id}\t{site.summary}\t{site.before}  ->  {site.after}")


def _list_entry_points() -> None:
    """One line per entry point: where it comes from, label, layout, names, q/k/v keywords, an example call."""
    from codemod.config import ConfigError, Projects
    from codemod.match.entry_points import ENTRY_POINTS

    project = Projects().for_directory(os.curdir)
    if isinstance(project, ConfigError):
        raise click.UsageError(str(project))
    origin = os.path.relpath(project.pyproject) if project.pyproject else "built-in"
    sources = [(origin, entry) for entry in project.declared_entry_points] + [("built-in", e) for e in ENTRY_POINTS]
    for source, entry in sources:
        keywords = ",".join(entry.keywords) or "-"
        layout = entry.layout + "".join(f" ({key}={value!r}: {then})" for key, value, then in entry.layout_if)
        click.echo(f"{source}\t{entry.label}\t{layout}{' packed' if entry.packed else ''}\t{','.join(entry.names)}\t"
                   f"{keywords}\t{entry.example}")


