"""Pod placement: ``placement`` (pure filters, scores and messages) and ``scheduler`` (the component)."""
