"""Contrastive projections and the zero-shot retrieval protocol (physnn.reservoir.projection)."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from physnn.reservoir.projection import (
    ContrastiveConfig,
    clip_loss,
    retrieval_accuracy,
    train_projections,
    zero_shot_retrieval,
)


def test_clip_loss_symmetric_and_minimal_for_aligned_pairs():
    g = torch.Generator().manual_seed(0)
    za = F.normalize(torch.randn(16, 8, generator=g), dim=1)
    zb = F.normalize(torch.randn(16, 8, generator=g), dim=1)
    torch.testing.assert_close(clip_loss(za, zb, temperature=0.2), clip_loss(zb, za, temperature=0.2))
    # aligned orthonormal pairs: logits 1/T on the diagonal, 0 elsewhere -> log(1 + (n-1) e^{-1/T})
    e = torch.eye(8, dtype=torch.float64)
    t = 0.1
    assert float(clip_loss(e, e, temperature=t)) == pytest.approx(math.log(1 + 7 * math.exp(-1 / t)), rel=1e-5)
    # any mismatch of the pairing raises the loss
    aligned = clip_loss(za, za, temperature=t)
    for k in range(1, 5):
        assert clip_loss(za, za.roll(k, 0), temperature=t) > aligned
    # class-aware targets reduce to the plain loss when all labels differ
    torch.testing.assert_close(
        clip_loss(za, zb, temperature=t, labels=torch.arange(16)), clip_loss(za, zb, temperature=t)
    )
    with pytest.raises(ValueError, match="temperature"):
        clip_loss(za, zb, temperature=0.0)
    with pytest.raises(ValueError, match="za, zb"):
        clip_loss(za, zb[:3])


def _toy(n_per, classes, rng):
    # modality A and B: different random linear views of shared class centres, plus noise
    centres = rng.standard_normal((10, 5))
    ma, mb = rng.standard_normal((5, 12)), rng.standard_normal((5, 9))
    y = np.repeat(classes, n_per)
    xa = centres[y] @ ma + 0.3 * rng.standard_normal((len(y), 12))
    xb = centres[y] @ mb + 0.3 * rng.standard_normal((len(y), 9))
    return xa.astype(np.float32), xb.astype(np.float32), y


def test_training_aligns_seen_classes():
    rng = np.random.default_rng(0)
    xa, xb, y = _toy(30, np.arange(6), rng)
    ha, hb, hist = train_projections(
        xa,
        y,
        xb,
        y,
        ContrastiveConfig(dim=8, hidden=32, epochs=30, batch_size=32),
        generator=torch.Generator().manual_seed(0),
    )
    assert hist[-1] < hist[0]
    xa2, xb2, y2 = _toy(10, np.arange(6), np.random.default_rng(0))  # same centres, new noise
    with torch.no_grad():
        za, zb = ha(torch.from_numpy(xa2)), hb(torch.from_numpy(xb2))
    assert retrieval_accuracy(za, y2, zb, y2) > 0.9
    assert zero_shot_retrieval(za, y2, zb, y2, n_way=2, n_trials=300).mean() > 0.9


def test_retrieval_protocol_extremes_and_errors():
    y = np.repeat([8, 9], 20)
    z = F.one_hot(torch.as_tensor(y - 8), 2).float()
    assert zero_shot_retrieval(z, y, z, y, n_trials=200).all()  # perfect embeddings
    assert not zero_shot_retrieval(z, y, z.flip(1), y, n_trials=200).any()  # swapped classes
    with pytest.raises(ValueError, match="n_way"):
        zero_shot_retrieval(z, y, z, y, n_way=3)
    with pytest.raises(ValueError, match="yb"):
        train_projections(np.zeros((4, 3)), [0, 0, 1, 1], np.zeros((2, 3)), [0, 0])


def test_open_set_distractors_come_from_given_classes():
    # Images: unseen 8 at 0.8 e8 + 0.6 e9, unseen 9 at 0.6 e8 + 0.8 e9, every seen digit at e8.
    # Unseen-vs-unseen: query e8 prefers image 8 (0.8 > 0.6), query e9 image 9 -> accuracy 1.
    # Open-set with seen distractors: query e8 always prefers the seen image (1.0 > 0.8) -> 0,
    # which can only happen if every distractor is drawn from the given (seen) classes.
    import numpy as np
    import torch

    from physnn.reservoir.projection import zero_shot_retrieval

    eye = torch.eye(10)
    yb = np.arange(10).repeat(3)
    zb = eye[np.full(len(yb), 8)].clone()
    zb[yb == 8] = 0.8 * eye[8] + 0.6 * eye[9]
    zb[yb == 9] = 0.6 * eye[8] + 0.8 * eye[9]
    ya = np.array([8, 9] * 20)
    g = torch.Generator().manual_seed(0)
    unseen = zero_shot_retrieval(eye[ya], ya, zb, yb, n_way=2, n_trials=200, generator=g)
    assert unseen.mean() == 1.0
    ya8 = np.full(20, 8)
    open_set = zero_shot_retrieval(
        eye[ya8], ya8, zb, yb, n_way=2, n_trials=200, distractor_classes=np.arange(8), generator=g
    )
    assert open_set.mean() == 0.0


def test_gallery_retrieval_is_the_papers_top1_over_the_whole_gallery():
    from physnn.reservoir.projection import gallery_retrieval

    eye = torch.eye(2)
    yb = np.repeat([8, 9], 5)
    zb = eye[yb - 8]
    ya = np.array([8, 9, 9, 8])
    assert gallery_retrieval(eye[ya - 8], ya, zb, yb).all()  # aligned embeddings
    assert not gallery_retrieval(eye[9 - ya], ya, zb, yb).any()  # swapped classes
    # one class-9 item next to the query beats every class-8 item: wrong for top=1, right for top=2
    zb2 = torch.cat([zb, torch.tensor([[1.0, 0.01]])])
    yb2 = np.append(yb, 9)
    q = torch.tensor([[1.0, 0.02]])  # dot 1.0002 with the class-9 item, 1.0 with every class-8 one
    assert gallery_retrieval(q, [8], zb2, yb2, top=1).tolist() == [False]
    assert gallery_retrieval(q, [8], zb2, yb2, top=2).tolist() == [True]
    with pytest.raises(ValueError, match="yb: the gallery has no item"):
        gallery_retrieval(eye[[0]], [7], zb, yb)
    with pytest.raises(ValueError, match="top"):
        gallery_retrieval(eye[[0]], [8], zb, yb, top=11)


def test_paper_selection_rule_and_callback_per_epoch():
    from physnn.reservoir.projection import paper_selection

    seen = [0.60, 0.70, 0.72, 0.80, 0.66]
    unseen = [0.95, 0.86, 0.50, 0.40, 0.90]
    # eligible epochs (seen >= .65 and unseen >= .85): 1 and 4; best seen among them: epoch 1
    assert paper_selection(seen, unseen) == (0.86, 1)
    v, ep = paper_selection(seen, [0.5] * 5)
    assert math.isnan(v) and ep == -1
    rng = np.random.default_rng(0)
    xa, xb, y = _toy(10, np.arange(3), rng)
    calls = []
    train_projections(
        xa,
        y,
        xb,
        y,
        ContrastiveConfig(dim=4, hidden=None, epochs=3, batch_size=8),
        callback=lambda ep, ha, hb: calls.append((ep, ha.training, torch.is_grad_enabled())),
    )
    assert calls == [(0, False, False), (1, False, False), (2, False, False)]


def test_two_class_gallery_accuracy_under_the_swapped_pairing_is_one_minus():
    # the fact behind the zero-shot analysis: with a gallery of two classes every top-1 hit under
    # one pairing is a miss under the other, whatever the embeddings
    from physnn.reservoir.projection import gallery_retrieval

    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        za, zb = torch.randn(40, 6, generator=g), torch.randn(30, 6, generator=g)
        ya = 8 + torch.randint(0, 2, (40,), generator=g).numpy()
        yb = 8 + np.r_[np.zeros(15, int), np.ones(15, int)]
        hit = gallery_retrieval(za, ya, zb, yb)
        hit_swapped = gallery_retrieval(za, ya, zb, 17 - yb)
        assert np.array_equal(hit, ~hit_swapped)


def _profiles(pair_b, rng):
    """Seen-class probabilities of unseen samples in two modalities that view shared latent class
    centres through different random maps. Unseen class u of modality A sits between seen classes
    MIX[u]; in modality B it sits between MIX[pair_b[u]]."""
    from physnn.reservoir.readout import LogisticReadout

    centres = 3.0 * rng.standard_normal((7, 6))
    mix = {8: (1, 4), 9: (2, 6)}
    out = []
    for d, pair in ((10, {8: 8, 9: 9}), (14, pair_b)):
        view = rng.standard_normal((6, d))
        ys = np.repeat(np.arange(7), 40)
        xs = centres[ys] @ view + 0.5 * rng.standard_normal((len(ys), d))
        yu = np.repeat([8, 9], 30)
        cu = np.stack([centres[list(mix[pair[u]])].mean(0) for u in yu])
        xu = cu @ view + 0.5 * rng.standard_normal((len(yu), d))
        ro = LogisticReadout(C=1.0, standardize=True).fit(xs, ys)
        out += [ro.predict_proba(xu), yu]
    return out


def test_profile_zero_shot_follows_the_shared_structure_and_flips_with_it():
    from physnn.reservoir.projection import gallery_retrieval, pairing_evidence, profile_embedding

    rng = np.random.default_rng(0)
    pa, ya, pb, yb = _profiles({8: 8, 9: 9}, rng)  # both modalities: 8 ~ seen (1,4), 9 ~ seen (2,6)
    z = profile_embedding(pa)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(len(z), dtype=torch.float64))
    assert gallery_retrieval(profile_embedding(pa), ya, profile_embedding(pb), yb).mean() > 0.9
    ev, R = pairing_evidence(pa, ya, pb, yb)
    assert R.shape == (2, 2) and ev > 0.5 and np.all(np.abs(R) <= 1 + 1e-12)
    # modality B's unseen digits resemble the other digit's seen classes: retrieval and evidence flip
    pa, ya, pb, yb = _profiles({8: 9, 9: 8}, np.random.default_rng(0))
    assert gallery_retrieval(profile_embedding(pa), ya, profile_embedding(pb), yb).mean() < 0.1
    assert pairing_evidence(pa, ya, pb, yb)[0] < -0.5
    with pytest.raises(ValueError, match="pa, pb: need the same seen classes"):
        pairing_evidence(pa, ya, pb[:, :5], yb)
    with pytest.raises(ValueError, match="at least two classes present in both"):
        pairing_evidence(pa, ya, pb[yb == 8], yb[yb == 8])
    with pytest.raises(ValueError, match="proba: probabilities must be >= 0"):
        profile_embedding(-pa)
    with pytest.raises(ValueError, match="proba: need"):
        profile_embedding(pa[:, 0])
