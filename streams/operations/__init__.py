"""Operations from outside a worker: model versions, weight sweep, watching, rebuild, processes."""
