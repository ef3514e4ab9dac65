"""The perfect model's scores for an AdaGAN preset: true-GMM samples evaluated by the same code as a mixture
(`evaluate_mixture`'s protocol: 500 real training points, 1,000 samples, 500 more for the KDE bandwidth).

    python benchmarks/adagan_perfect.py adagan_gmm10 adagan_gmm25_grid
"""
import sys

import numpy as np

from gankit.config import load_config
from gankit.data import load_dataset
from gankit.data.toy2d import sample_toy, toy_modes
from gankit.metrics.modes import adagan_coverage, mode_metrics

for preset in sys.argv[1:] or ["adagan_gmm10", "adagan_gmm25_grid"]:
    cfg = load_config(preset)
    real = load_dataset(cfg.data, "train").x[:500].double().numpy()
    rows = []
    for seed in range(3):
        samples, _ = sample_toy(cfg.data.distribution, 1500, np.random.default_rng(1000 + seed), cfg.data.modes, cfg.data.seed)
        samples = samples.astype(np.float64)
        scores = adagan_coverage(real, samples[:1000], samples[1000:])
        scores |= mode_metrics(samples[:1000], *toy_modes(cfg.data.distribution, cfg.data.modes, cfg.data.seed))
        rows.append(scores)
    mean = {k: np.mean([r[k] for r in rows]) for k in ("C", "log_p", "modes_covered", "high_quality")}
    std = {k: np.std([r[k] for r in rows]) for k in mean}
    print(f"{preset}: perfect model over 3 sample draws: " + ", ".join(f"{k} {mean[k]:.3f} ± {std[k]:.3f}" for k in mean))
