"""Resistive-memory LSM on offline event data: N-MNIST-like classification, spoken digits
(speaker-disjoint), and zero-shot audio -> image retrieval of unseen digits 8-9.

Protocol (Lin et al., Nat. Comput. Sci. 5, 37 (2025), doi:10.1038/s43588-024-00751-z):
1. N-MNIST-like: DVS-emulated saccade events of scikit-learn digits, 34x34 -> 16x16, 50 steps,
   200-LIF LSM (decay 0.9, threshold 5.0), spike counts -> logistic readout. 75/25 stratified split.
2. Spoken digits: espeak-ng words -> 64-channel cochlea -> 129 steps, LSM (decay 0.97,
   threshold 5.3), spike counts -> logistic readout. Test speakers (variants) unseen in training.
3. Zero-shot, the protocol of the paper's public code (github.com/MrLinNing/MemristorLSM,
   LSM-CLIP-ATV/zero_shot_sim.py; details in physnn.reservoir.projection): projection heads trained
   with the CLIP loss on digits 1-7 (training split of both modalities; 0 unused); every unseen
   8/9 test utterance queries the gallery of all 8/9 test images, top-1 ("8-9 accuracy", 2-way).
   Headline = final epoch (no selection); the paper's test-set epoch selection is reported apart.
   The strict random 2-way trial test is kept as ``zero_shot_strict_acc``.
Every reservoir accuracy has its raw-input probe beside it in the JSON (``<task>_acc`` and
``<task>_probe_acc``; ``reservoir_gain_over_probe[task]`` = reservoir - probe, > 0: the LSM helps):
the same readout family trained on the raw event frames instead of the LSM's spike counts, with the
same train/test split and the same hyper-parameter selection --
* classification (N-MNIST-like, spoken digits): logistic readout whose C is picked from
  ``C_GRID`` by accuracy on a validation part of the training split (images: stratified 20 %;
  audio: a quarter of the training speakers, so that selection, like the test, is on unseen
  speakers), then refit on the whole training split; raw image input = the 50-step 2x16x16 frames
  (25,600 values), raw audio = the 64-channel cochlea frames summed into 8 bins of 16 steps;
* zero-shot (all its variants): the same projection heads, config and head seeds, trained on the
  raw frames (images summed into 5 bins of 10 steps, 2,560 values: heads on all 25,600 would cost
  ~15 minutes more); the seen-class profile test: the same fixed-C readouts on the raw frames.
Every LSM number is the mean over ``--ensemble`` independent LSM instances (resistive-memory draws);
the raw probes are deterministic given the split (zero-shot: mean over the head seeds).

Usage: python experiments/lsm_zero_shot.py [--quick] [--seed N] [--out DIR] [--ensemble E] [--heads H]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _publish

C_GRID = (0.01, 0.1, 1.0)  #: inverse L2 strengths tried for every logistic readout (LSM and probe alike)


def fit_selected(x, y, train, test, val, *, max_iter: int = 500):
    """Logistic readout with C chosen from ``C_GRID`` by validation accuracy, refit on ``train``.

    ``x`` is ``(n, f)`` or ``(E, n, f)`` (one C for all members: the best mean validation
    accuracy; ties go to the smaller C); ``train``, ``test`` and ``val`` are boolean masks over
    samples, ``val`` a subset of ``train``. Returns (test accuracy, float or (E,), the chosen C,
    validation accuracy per C).
    """
    from physnn.reservoir.readout import LogisticReadout

    train, test, val = (np.asarray(m, bool) for m in (train, test, val))
    if not val.any() or (val & ~train).any() or not (train & ~val).any():
        raise ValueError("val: must be a non-empty proper subset of train")
    if (train & test).any():
        raise ValueError("test: overlaps train")
    fit = train & ~val
    val_acc = {}
    for C in C_GRID:
        ro = LogisticReadout(C=C, max_iter=max_iter, standardize=True).fit(x[..., fit, :], y[fit])
        val_acc[C] = float(np.mean(ro.score(x[..., val, :], y[val])))
    best = max(C_GRID, key=lambda c: (val_acc[c], -c))
    ro = LogisticReadout(C=best, max_iter=max_iter, standardize=True).fit(x[..., train, :], y[train])
    return ro.score(x[..., test, :], y[test]), best, val_acc


def pair_with_probes(pairs: dict[str, tuple[float, float]]) -> tuple[dict, dict, list[str]]:
    """``{task: (reservoir accuracy, probe accuracy)}`` -> (JSON figures with ``<task>_acc`` next to
    ``<task>_probe_acc``, ``{task: reservoir - probe}``, the tasks where the reservoir does NOT beat
    its probe)."""
    figs, gain, not_better = {}, {}, []
    for task, (res, probe) in pairs.items():
        figs[f"{task}_acc"] = float(res)
        figs[f"{task}_probe_acc"] = float(probe)
        gain[task] = float(res) - float(probe)
        if not gain[task] > 0:
            not_better.append(task)
    return figs, gain, not_better


def _cached(name: str, key: dict, fn):
    from physnn._resources import cache_dir

    h = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir("lsm_zero_shot") / f"{name}_{h}.npz"
    if path.is_file():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    out = fn()
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return out


def image_data(n: int | None, seed: int) -> dict:
    from physnn.data.events import SACCADE_DURATION, frames_batch, nmnist_like, pool_frames

    def make():
        streams, labels = nmnist_like(n_samples=n, seed=seed)
        fr = pool_frames(frames_batch(streams, n_time_bins=50, duration=3 * SACCADE_DURATION))
        return {
            "frames": fr.astype(np.float32),
            "labels": labels,
            "n_events": np.array([len(s) for s in streams]),
            "example": frames_batch(streams[:1], n_time_bins=3, duration=3 * SACCADE_DURATION)[0],
        }

    return _cached("images", {"n": n, "seed": seed, "v": 1}, make)


def audio_data(n_train: int, n_test: int, repeats: int, seed: int) -> dict:
    from physnn.data.cochlea import CochleaParams, cochlea_events, cochlea_sensor_size
    from physnn.data.events import frames_batch
    from physnn.data.spoken_digits import spoken_digits

    def make():
        ds = spoken_digits(n_train, n_test, repeats=repeats, seed=seed)
        p = CochleaParams()
        evs = []
        for s in range(0, len(ds.audio), 32):
            evs += cochlea_events(ds.audio[s : s + 32], p)
        fr = frames_batch(evs, cochlea_sensor_size(p), n_time_bins=129, duration=1.0)[:, :, 0, 0, :]
        return {
            "frames": fr.astype(np.float32),
            "labels": ds.labels,
            "is_test": ds.is_test,
            "speaker": ds.speaker.astype(str),
        }

    return _cached("audio", {"tr": n_train, "te": n_test, "rep": repeats, "seed": seed, "v": 1}, make)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results/lsm_zero_shot"))
    ap.add_argument("--ensemble", type=int, default=None, help="LSM instances (default 4; 2 with --quick)")
    ap.add_argument(
        "--heads", type=int, default=None, help="projection-head seeds per LSM instance (default 4; 1 with --quick)"
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t_start = time.time()

    import xarray as xr

    from physnn.reservoir.lsm import NMNIST_LIF, NTIDIGITS_LIF, LSMConfig, ResistiveLSM
    from physnn.reservoir.projection import (
        ContrastiveConfig,
        gallery_retrieval,
        pairing_evidence,
        paper_selection,
        profile_embedding,
        retrieval_accuracy,
        train_projections,
        zero_shot_retrieval,
    )
    from physnn.reservoir.readout import LogisticReadout

    E = args.ensemble or (2 if args.quick else 4)
    seed = args.seed
    img = image_data(600 if args.quick else None, seed)
    aud = audio_data(16, 8, 1, seed) if args.quick else audio_data(40, 16, 2, seed)

    # ---- splits -------------------------------------------------------------------------------
    li = img["labels"]
    rng = np.random.default_rng(seed)
    img_test = np.zeros(len(li), bool)
    for c in range(10):  # stratified 25 % test
        ix = rng.permutation(np.flatnonzero(li == c))
        img_test[ix[: len(ix) // 4]] = True
    la, aud_test = aud["labels"], aud["is_test"]
    assert not set(aud["speaker"][aud_test]) & set(aud["speaker"][~aud_test]), "speaker overlap"

    # validation parts of the training splits (readout hyper-parameter selection, both feature sets)
    img_val = np.zeros(len(li), bool)
    for c in range(10):  # stratified 20 % of the training images
        ix = rng.permutation(np.flatnonzero((li == c) & ~img_test))
        img_val[ix[: len(ix) // 5]] = True
    tr_spk = np.unique(aud["speaker"][~aud_test])
    val_spk = rng.permutation(tr_spk)[: max(1, len(tr_spk) // 4)]
    aud_val = (~aud_test) & np.isin(aud["speaker"], val_spk)

    # ---- raw-input probes: the same readouts on the raw frames (no LSM) -------------------------
    xi_raw = img["frames"].reshape(len(li), -1)
    xa_raw = aud["frames"][:, :128].reshape(len(la), 8, 16, 64).sum(2).reshape(len(la), -1)
    # zero-shot heads' raw image input: the frames summed into 5 bins of 10 steps
    xi_raw_zs = img["frames"].reshape(len(li), 5, 10, -1).sum(2).reshape(len(li), -1)
    probe_i_acc, probe_i_C, _ = fit_selected(xi_raw, li, ~img_test, img_test, img_val)
    probe_a_acc, probe_a_C, _ = fit_selected(xa_raw, la, ~aud_test, aud_test, aud_val)

    # ---- LSMs (E resistive-memory instances in one batched call per modality) -------------------
    gen = torch.Generator().manual_seed(seed)
    lsm_i = ResistiveLSM(512, LSMConfig(lif=NMNIST_LIF, input_scale=1.0, input_density=0.2), ensemble=E, generator=gen)
    lsm_a = ResistiveLSM(
        64, LSMConfig(lif=NTIDIGITS_LIF, input_scale=2.0, input_density=0.3), ensemble=E, generator=gen
    )
    t0 = time.time()
    out_i = lsm_i(torch.from_numpy(img["frames"].reshape(len(li), 50, -1)))
    out_a = lsm_a(torch.from_numpy(aud["frames"]))
    t_lsm = time.time() - t0
    fi, fa = out_i.counts, out_a.counts  # (E, n, 200)

    acc_i, lsm_i_C, _ = fit_selected(fi, li, ~img_test, img_test, img_val)
    acc_a, lsm_a_C, _ = fit_selected(fa, la, ~aud_test, aud_test, aud_val)
    acc_i, acc_a = np.asarray(acc_i), np.asarray(acc_a)

    # ---- zero-shot: the protocol of Lin et al.'s public code (see physnn.reservoir.projection) ---
    # train digits 1-7 (0 unused), unseen 8-9; heads dim 64, Adam 1e-3, batch 8, 100 epochs; after
    # every epoch: audio-test queries -> gallery of all image-test items, top-1 ("1-7" / "8-9" acc)
    n_heads = args.heads or (1 if args.quick else 4)
    cc = ContrastiveConfig(dim=64, hidden=128, temperature=0.1, lr=1e-3, batch_size=8, epochs=15 if args.quick else 100)
    train_cls, unseen_cls = np.arange(1, 8), np.array([8, 9])
    seen_a, seen_i = (~aud_test) & np.isin(la, train_cls), (~img_test) & np.isin(li, train_cls)
    ua, ui = aud_test & np.isin(la, unseen_cls), img_test & np.isin(li, unseen_cls)
    sa, si = aud_test & np.isin(la, train_cls), img_test & np.isin(li, train_cls)

    # ---- seen-class structure: the only information on 8-9 a model trained on 1-7 can use --------
    # (in a two-class gallery the accuracy under the swapped pairing "eight"<->9 is 1 - accuracy,
    # and training on 1-7 is blind to which pairing holds). Each modality gets its own 7-way
    # readout on seen training data; unseen test items are described by their seen-class profiles.
    def structure(xa, xi):
        ra = LogisticReadout(C=0.1, max_iter=500, standardize=True).fit(xa[..., seen_a, :], la[seen_a])
        ri = LogisticReadout(C=0.1, max_iter=500, standardize=True).fit(xi[..., seen_i, :], li[seen_i])
        pa, pi = ra.predict_proba(xa[..., ua, :]), ri.predict_proba(xi[..., ui, :])
        pa, pi = (pa, pi) if pa.ndim == 3 else (pa[None], pi[None])
        acc = np.array(
            [
                gallery_retrieval(profile_embedding(pa[k]), la[ua], profile_embedding(pi[k]), li[ui]).mean()
                for k in range(len(pa))
            ]
        )
        ev = [pairing_evidence(pa[k], la[ua], pi[k], li[ui]) for k in range(len(pa))]
        return acc, np.array([v for v, _ in ev]), np.stack([r for _, r in ev])

    prof_acc, evidence, evidence_R = structure(fa, fi)
    prof_acc_raw, evidence_raw, _ = structure(xa_raw, xi_raw)

    def zero_shot_runs(feature_sets):
        """Projection heads trained on ``(audio features, image features, seed base)`` sets, n_heads
        head seeds each; every zero-shot metric per run (run = set * n_heads + head)."""
        R = len(feature_sets) * n_heads
        z = {
            "gal_seen": np.zeros((R, cc.epochs)),
            "gal_unseen": np.zeros((R, cc.epochs)),
            "strict": [],
            "seen": [],
            "open": [],
            "proto_seen": [],
            "losses": [],
        }
        for e, (xa_, xi_, base) in enumerate(feature_sets):
            for h in range(n_heads):
                r = e * n_heads + h
                g = torch.Generator().manual_seed(base + h)

                def record(ep, ha, hb, xa_=xa_, xi_=xi_, r=r):
                    z["gal_seen"][r, ep] = gallery_retrieval(ha(xa_[sa]), la[sa], hb(xi_[si]), li[si]).mean()
                    z["gal_unseen"][r, ep] = gallery_retrieval(ha(xa_[ua]), la[ua], hb(xi_[ui]), li[ui]).mean()

                ha, hb, hist = train_projections(
                    xa_[seen_a], la[seen_a], xi_[seen_i], li[seen_i], cc, generator=g, callback=record
                )
                z["losses"].append(hist)
                with torch.no_grad():
                    z["strict"].append(
                        zero_shot_retrieval(ha(xa_[ua]), la[ua], hb(xi_[ui]), li[ui], n_way=2, generator=g).mean()
                    )
                    z["seen"].append(
                        zero_shot_retrieval(ha(xa_[sa]), la[sa], hb(xi_[si]), li[si], n_way=2, generator=g).mean()
                    )
                    # open-set variant: unseen query vs (its own unseen image, an image of a seen digit)
                    z["open"].append(
                        zero_shot_retrieval(
                            ha(xa_[ua]),
                            la[ua],
                            hb(xi_[img_test]),
                            li[img_test],
                            n_way=2,
                            distractor_classes=train_cls,
                            generator=g,
                        ).mean()
                    )
                    z["proto_seen"].append(retrieval_accuracy(ha(xa_[sa]), la[sa], hb(xi_[si]), li[si]))
        return {k: np.asarray(v) for k, v in z.items()}

    # the LSM instances, and the raw-frame probe with the head seeds of instance 0
    zl = zero_shot_runs([(fa[e], fi[e], seed * 1000 + e * 100) for e in range(E)])
    zp = zero_shot_runs([(torch.from_numpy(xa_raw), torch.from_numpy(xi_raw_zs), seed * 1000)])
    R = E * n_heads
    gal_seen, gal_unseen, losses = zl["gal_seen"], zl["gal_unseen"], zl["losses"]
    zs_strict, zs_seen, zs_open, proto_seen = zl["strict"], zl["seen"], zl["open"], zl["proto_seen"]
    zs = gal_unseen[:, -1]  # headline: the paper's 8-9 gallery accuracy, final epoch
    zs_seen_gal = gal_seen[:, -1]  # the paper's 1-7 gallery accuracy, final epoch
    sel = [paper_selection(gal_seen[r], gal_unseen[r]) for r in range(R)]
    sel_acc = np.array([v for v, _ in sel])
    sel_met = np.isfinite(sel_acc)
    oracle = gal_unseen.max(axis=1)  # best epoch chosen on the unseen test labels (upper bound)

    # ---- outputs --------------------------------------------------------------------------------
    args.out.mkdir(parents=True, exist_ok=True)
    one = {"units": "1"}
    member = xr.DataArray(
        np.arange(E), dims="member", attrs={**one, "long_name": "LSM instance (resistive-memory draw)"}
    )
    run = xr.DataArray(
        np.arange(R), dims="run", attrs={**one, "long_name": "projection training run (member * heads + head seed)"}
    )
    prov = lsm_i.switching
    ds = xr.Dataset(
        {
            "nmnist_like_acc": (
                "member",
                acc_i,
                {**one, "long_name": "N-MNIST-like test accuracy (LSM counts + logistic)"},
            ),
            "spoken_digit_acc": ("member", acc_a, {**one, "long_name": "spoken-digit accuracy on unseen speakers"}),
            "run_member": ("run", np.repeat(np.arange(E), n_heads), {**one, "long_name": "LSM instance of the run"}),
            "gallery_acc_unseen": (
                ("run", "epoch"),
                gal_unseen,
                {**one, "long_name": "paper protocol: unseen 8-9 audio -> 8-9 image gallery, top-1 (per epoch)"},
            ),
            "gallery_acc_seen": (
                ("run", "epoch"),
                gal_seen,
                {**one, "long_name": "paper protocol: seen 1-7 audio -> 1-7 image gallery, top-1 (per epoch)"},
            ),
            "zero_shot_strict_acc": (
                "run",
                zs_strict,
                {
                    **one,
                    "long_name": "random 2-way trials: unseen audio vs (image of its digit, image of the other unseen digit)",
                },
            ),
            "zero_shot_unseen_vs_seen_acc": (
                "run",
                zs_open,
                {**one, "long_name": "2-way retrieval, unseen audio query vs (own unseen image, seen-digit image)"},
            ),
            "zero_shot_seen_acc": (
                "run",
                zs_seen,
                {**one, "long_name": "random 2-way trials, seen digits 1-7 (held-out samples)"},
            ),
            "seen_7way_proto_acc": (
                "run",
                proto_seen,
                {**one, "long_name": "7-way audio->image-prototype accuracy, seen digits"},
            ),
            "paper_selected_unseen_acc": (
                "run",
                sel_acc,
                {
                    **one,
                    "long_name": "unseen acc at the epoch picked by the paper's rule on TEST accuracies (NaN: rule never met)",
                },
            ),
            "profile_zero_shot_acc": (
                "member",
                prof_acc,
                {
                    **one,
                    "long_name": "unseen 8-9 gallery accuracy matching seen-class (1-7) profiles of LSM features, no cross-modal training",
                },
            ),
            "pairing_evidence": (
                "member",
                evidence,
                {
                    **one,
                    "long_name": "seen-class structure for the true pairing: mean diag - mean off-diag of audio/image profile correlations (8, 9)",
                },
            ),
            "profile_correlation": (
                ("member", "audio_digit", "image_digit"),
                evidence_R,
                {**one, "long_name": "correlation of class-mean seen-class log-profiles, audio digit vs image digit"},
            ),
            "contrastive_loss": (("run", "epoch"), np.asarray(losses), {**one, "long_name": "CLIP loss per epoch"}),
            "probe_gallery_acc_unseen": (
                ("probe_run", "epoch"),
                zp["gal_unseen"],
                {**one, "long_name": "raw-frame probe heads: unseen 8-9 audio -> 8-9 image gallery, top-1 (per epoch)"},
            ),
            "probe_gallery_acc_seen": (
                ("probe_run", "epoch"),
                zp["gal_seen"],
                {**one, "long_name": "raw-frame probe heads: seen 1-7 audio -> 1-7 image gallery, top-1 (per epoch)"},
            ),
            "image_rate": (
                "member",
                out_i.rates.mean(dim=(1, 2)).numpy(),
                {**one, "long_name": "mean spikes per neuron per step (images)"},
            ),
            "audio_rate": (
                "member",
                out_a.rates.mean(dim=(1, 2)).numpy(),
                {**one, "long_name": "mean spikes per neuron per step (audio)"},
            ),
        },
        coords={
            "member": member,
            "run": run,
            "probe_run": xr.DataArray(
                np.arange(n_heads), dims="probe_run", attrs={**one, "long_name": "raw-frame probe head seed"}
            ),
            "epoch": xr.DataArray(np.arange(cc.epochs), dims="epoch", attrs={**one, "long_name": "training epoch"}),
            "audio_digit": xr.DataArray(
                unseen_cls, dims="audio_digit", attrs={**one, "long_name": "unseen spoken digit"}
            ),
            "image_digit": xr.DataArray(
                unseen_cls, dims="image_digit", attrs={**one, "long_name": "unseen image digit"}
            ),
        },
        attrs={
            "nmnist_like_probe_acc": float(probe_i_acc),
            "spoken_digit_probe_acc": float(probe_a_acc),
            "profile_zero_shot_acc_raw_frames": float(prof_acc_raw[0]),
            "pairing_evidence_raw_frames": float(evidence_raw[0]),
            "readout_C_lsm_images": lsm_i_C,
            "readout_C_lsm_audio": lsm_a_C,
            "readout_C_probe_images": probe_i_C,
            "readout_C_probe_audio": probe_a_C,
            "seed": seed,
            "quick": int(args.quick),
            "torch_threads": 1,
            "switching_g_median_S": prov.g_median,
            "switching_log_sigma": prov.log_sigma,
            "device_card": "rram_lsm_forming",
            "train_classes": "1-7",
            "unseen_classes": "8-9",
            "protocol_source": "github.com/MrLinNing/MemristorLSM LSM-CLIP-ATV/zero_shot_sim.py",
        },
    )
    from _publish import save_netcdf

    save_netcdf(ds, args.out / "lsm_zero_shot.nc")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 4, figsize=(17, 3.8))
    names = [
        "N-MNIST-like",
        "spoken digits",
        "zero-shot 8-9\n(gallery)",
        "strict 8-9\n(2-way)",
        "seen 1-7\n(gallery)",
        "probe\n(raw frames)",
    ]
    vals = [acc_i, acc_a, zs, zs_strict, zs_seen_gal, np.array([probe_i_acc])]
    axs[0].bar(range(len(vals)), [v.mean() for v in vals], yerr=[v.std() for v in vals], color="C0")
    axs[0].axhline(0.5, ls="--", c="k", lw=0.8, label="2-way chance")
    axs[0].axhline(0.1, ls=":", c="k", lw=0.8, label="10-way chance")
    axs[0].set_xticks(range(len(vals)), names, fontsize=7)
    axs[0].set_ylabel("accuracy")
    axs[0].legend(fontsize=7)
    ep = np.arange(1, cc.epochs + 1)
    for r in range(R):
        axs[1].plot(ep, gal_unseen[r], c="C3", lw=0.7, alpha=0.6)
        axs[1].plot(ep, gal_seen[r], c="C0", lw=0.7, alpha=0.6)
    axs[1].axhline(0.85, ls="--", c="k", lw=0.8)
    axs[1].axhline(0.5, ls=":", c="k", lw=0.8)
    axs[1].set(
        xlabel="epoch",
        ylabel="test gallery accuracy",
        ylim=(0, 1),
        title="per epoch: unseen 8-9 (red), seen 1-7 (blue)",
    )
    ex = img["example"]
    axs[2].imshow(np.concatenate([ex[k, 1] - ex[k, 0] for k in range(3)], axis=1), cmap="bwr")
    axs[2].set_title("DVS events per saccade (ON - OFF)")
    axs[2].axis("off")
    axs[3].imshow(aud["frames"][0].T, aspect="auto", origin="lower", cmap="magma")
    axs[3].set_xlabel("time bin (7.75 ms)")
    axs[3].set_ylabel("cochlea channel")
    axs[3].set_title(f"cochlea spikes, digit {la[0]}")
    fig.tight_layout()
    fig.savefig(args.out / "lsm_zero_shot.png", dpi=120)
    plt.close(fig)

    # every reservoir accuracy beside its raw-input probe (same readout, split and selection)
    zp_final = zp["gal_unseen"][:, -1]
    pairs = {
        "nmnist_like": (acc_i.mean(), probe_i_acc),
        "spoken_digit": (acc_a.mean(), probe_a_acc),
        "zero_shot_unseen": (zs.mean(), zp_final.mean()),
        "zero_shot_strict": (zs_strict.mean(), zp["strict"].mean()),
        "zero_shot_seen_gallery": (zs_seen_gal.mean(), zp["gal_seen"][:, -1].mean()),
        "zero_shot_seen": (zs_seen.mean(), zp["seen"].mean()),
        "zero_shot_unseen_vs_seen": (zs_open.mean(), zp["open"].mean()),
        "seen_7way_proto": (proto_seen.mean(), zp["proto_seen"].mean()),
        "zero_shot_unseen_oracle_epoch": (oracle.mean(), zp["gal_unseen"].max(axis=1).mean()),
        "zero_shot_profile": (prof_acc.mean(), prof_acc_raw[0]),
    }
    paired, gain, not_better = pair_with_probes(pairs)
    res = {
        **paired,
        "reservoir_gain_over_probe": gain,
        "reservoir_not_better_than_probe": not_better,
        "zero_shot_unseen_acc_std": float(zs.std()),
        "zero_shot_unseen_acc_min": float(zs.min()),
        "zero_shot_unseen_acc_max": float(zs.max()),
        "zero_shot_unseen_runs_ge_085": float(np.mean(zs >= 0.85)),
        "paper_rule_met_fraction": float(sel_met.mean()),
        "pairing_evidence": float(evidence.mean()),
        "pairing_evidence_raw_frames": float(evidence_raw[0]),
        "readout_C": {"lsm_images": lsm_i_C, "probe_images": probe_i_C, "lsm_audio": lsm_a_C, "probe_audio": probe_a_C},
        "n_runs": R,
        "n_probe_runs": n_heads,
        "nmnist_like_acc_std": float(acc_i.std()),
        "spoken_digit_acc_std": float(acc_a.std()),
        "ensemble": E,
        "n_images": int(len(li)),
        "n_utterances": int(len(la)),
        "lsm_seconds": round(t_lsm, 2),
    }
    if sel_met.any():  # only defined for the runs where the paper's test-set rule was met
        res["zero_shot_unseen_acc_paper_selected"] = float(np.nanmean(sel_acc))
    sel_txt = (
        f"{np.nanmean(sel_acc):.3f} over the {int(sel_met.sum())} runs that met it" if sel_met.any() else "never met"
    )
    (args.out / "summary.md").write_text(
        "# lsm_zero_shot\n\n"
        f"Resistive LSM ({E} device instances, card rram_lsm_forming) x {n_heads} projection-head seeds = {R} "
        f"zero-shot runs, seed {seed}, quick={args.quick}.\n\n"
        "Zero-shot protocol = that of Lin et al.'s public code (github.com/MrLinNing/MemristorLSM,\n"
        "LSM-CLIP-ATV/zero_shot_sim.py): contrastive heads trained on digits 1-7 only (0 unused); every\n"
        "unseen-digit (8, 9) test utterance queries the gallery of all 8/9 test images, correct if its top-1\n"
        f"neighbour shows its digit. Heads: dim 64, Adam 1e-3, batch 8, {cc.epochs} epochs (paper: 100),\n"
        "temperature 0.1 on unit-norm embeddings (paper: 1.0). No information on 8-9 enters training.\n"
        "Headline = final epoch, no selection. The paper instead reports the epoch with the best 1-7 test\n"
        "accuracy among epochs with 1-7 >= 65 % and 8-9 >= 85 % (test-set selection; >= 85 % by construction).\n\n"
        "Every LSM figure is beside its raw-input probe: the same readout (logistic, C chosen on the same\n"
        "validation part of the training split; zero-shot: the same heads, config and head seeds) trained on the\n"
        "raw event frames instead of the LSM's spike counts. Gain = LSM - probe.\n\n"
        "| metric | LSM mean | std over runs/instances | raw-input probe | gain |\n|---|---|---|---|---|\n"
        + "".join(
            f"| {label} | {pairs[t][0]:.3f} | {sd:.3f} | {pairs[t][1]:.3f} | {gain[t]:+.3f} |\n"
            for t, label, sd in (
                ("nmnist_like", "N-MNIST-like accuracy", acc_i.std()),
                ("spoken_digit", "spoken digits (unseen speakers)", acc_a.std()),
                ("zero_shot_unseen", "zero-shot 8-9, paper gallery protocol, final epoch", zs.std()),
                ("zero_shot_strict", "zero-shot 8-9, strict random 2-way trials", zs_strict.std()),
                ("zero_shot_seen_gallery", "seen 1-7, paper gallery protocol (7 classes)", zs_seen_gal.std()),
                ("zero_shot_seen", "seen 1-7, random 2-way trials", zs_seen.std()),
                ("zero_shot_unseen_vs_seen", "unseen query vs (own image, seen-digit image)", zs_open.std()),
                ("seen_7way_proto", "seen 1-7, 7-way audio -> image prototype", proto_seen.std()),
                (
                    "zero_shot_unseen_oracle_epoch",
                    "8-9 at best epoch chosen on 8-9 test labels (oracle, NOT an estimate)",
                    oracle.std(),
                ),
                ("zero_shot_profile", "8-9 by seen-class profiles (no cross-modal training)", prof_acc.std()),
            )
        )
        + "\n"
        + (
            (
                "**The LSM does not beat its raw-input probe** on: "
                + ", ".join(not_better)
                + ". On these tasks the reservoir adds nothing a readout on the raw events does not already get.\n\n"
            )
            if not_better
            else "The LSM beats its raw-input probe on every task.\n\n"
        )
        + f"Readout C (picked on validation): images LSM {lsm_i_C:g} / probe {probe_i_C:g}, audio LSM {lsm_a_C:g} / "
        f"probe {probe_a_C:g}.\n\n"
        f"Fraction of runs with final-epoch 8-9 accuracy >= 0.85: {np.mean(zs >= 0.85):.2f}. The paper's selection\n"
        f"rule was met in {sel_met.mean():.2f} of the runs; selected value {sel_txt}.\n"
        "\n## Is there anything to transfer?\n\n"
        "Training on digits 1-7 is the same whether the sound 'eight' goes with the shape 8 or with the shape 9,\n"
        "and in a two-class gallery the accuracy under the swapped pairing is exactly 1 - accuracy. So any\n"
        "above-chance 8-9 figure must come from shared seen-class structure (a sound resembling the same seen\n"
        "digits as the image of its own digit). Measured directly, with one 7-way readout per modality on seen\n"
        "training data and unseen items described by their seen-class profiles:\n\n"
        "| features | profile-matching 8-9 accuracy | pairing evidence (> 0 favours the true pairing) | contrastive heads, final-epoch 8-9 (mean over head seeds) |\n|---|---|---|---|\n"
        + "".join(
            f"| LSM instance {e} | {prof_acc[e]:.3f} | {evidence[e]:+.2f} | {zs[e * n_heads : (e + 1) * n_heads].mean():.3f} |\n"
            for e in range(E)
        )
        + f"| raw event frames | {prof_acc_raw[0]:.3f} | {evidence_raw[0]:+.2f} | - |\n\n"
        "Negative evidence means the data's own structure points to the wrong pairing: the unseen sounds\n"
        "resemble the seen digits that the *other* unseen image resembles. The contrastive heads have only\n"
        "that seen-class data to go on, and their 8-9 accuracy scatters around chance over runs while the\n"
        "seen-class retrieval is learnt.\n"
    )
    res["wall_seconds"] = round(time.time() - t_start, 1)
    from _publish import publish

    publish("lsm_zero_shot", res, quick=args.quick)
    return res


if __name__ == "__main__":
    main()
