"""physnn.data — offline datasets. Everything is generated locally; nothing is ever downloaded.

=============  ==========================================================================
speech         espeak-ng speech synthesis, speaker styles, background noise
features       log-mel spectrograms and MFCCs
kws            12-class keyword spotting built from synthesised speech (``build_kws``)
text           character-level language modelling on ``pydoc_data.topics`` (bits/char)
events         DVS emulator and the N-MNIST-like event set (tonic's ``(x, y, t, p)`` layout)
cochlea        audio -> 64-channel spike events (N-TIDIGITS-like)
spoken_digits  speaker-disjoint spoken digits 0-9
=============  ==========================================================================

Submodules are imported on use (``from physnn.data.kws import build_kws``) so that importing
:mod:`physnn.data` stays cheap.
"""
