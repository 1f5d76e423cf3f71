"""Training scripts shipped with the package (run them with ``python -m``).

- :mod:`hyperpod.examples.digits`: data-parallel MLP on scikit-learn's digits dataset, with
  checkpoints and resume; used by ``examples/pytorchjob-*.yaml``.
- :mod:`hyperpod.examples.digits_serve`: serves its newest checkpoint over HTTP (``POST
  /predict``); used by ``examples/inference-digits.yaml``.
"""
