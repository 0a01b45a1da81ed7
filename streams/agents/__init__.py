"""Faust agents: each registers itself on a :class:`streams.worker.compose.WorkerContext`.

serve  queries -> predictions        (features once, every objective's scores)
rank   predictions -> rankings       (combined score, weights version)
join   queries + impressions + clicks -> examples   (attribution window)
learn  examples -> live models       (predict, then learn; progressive metrics)
report timer -> metrics              (worker counters, model health)
"""
