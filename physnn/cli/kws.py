"""``physnn kws``: build (or load from the cache) the espeak-ng keyword-spotting dataset."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ._types import InputError


@click.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="write the dataset here (.pt file, or a folder)"
)
@click.option(
    "--n-per-class", type=click.IntRange(min=1), default=None, help="clips per class (default 300; --small: 30)"
)
@click.option("--small", is_flag=True, help="test-sized preset (30 clips per class)")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--feature", type=click.Choice(["logmel", "mfcc"]), default="logmel", show_default=True)
@click.option("--n-mels", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--snr-db", type=(float, float), default=None, metavar="LO HI", help="range of the noise SNR in dB")
@click.option("--keep-audio", is_flag=True, help="also store the waveforms")
@click.option("--jobs", type=click.IntRange(min=1), default=None, help="parallel espeak-ng processes")
@click.option("--no-cache", is_flag=True, help="neither read nor write the cache")
def kws(out, n_per_class, small, seed, feature, n_mels, snr_db, keep_audio, jobs, no_cache) -> None:
    """Build the offline GSC-12-style keyword-spotting dataset (espeak-ng speech).

    Prints a JSON summary (sizes, speakers per split, build time) as its last line.
    """
    import dataclasses

    from ..data.features import MelConfig
    from ..data.kws import KWSConfig, build_kws

    try:
        base = KWSConfig.small() if small else KWSConfig()
        kw = {"seed": seed, "feature": feature, "mel": MelConfig(n_mels=n_mels)}
        if n_per_class is not None:
            kw["n_per_class"] = n_per_class
        if snr_db is not None:
            kw["snr_db"] = tuple(snr_db)
        cfg = dataclasses.replace(base, **kw)
        ds = build_kws(cfg, cache=not no_cache, keep_audio=keep_audio, n_jobs=jobs)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise InputError(str(exc)) from None
    summary = ds.summary()
    if out is not None:
        dest = out if out.suffix == ".pt" else out / f"kws-{cfg.cache_key()}.pt"
        summary["path"] = str(ds.save(dest))
    click.echo(json.dumps(summary))
