"""Composition: calls made of calls (cache, quorum, sampling, parallel, race, debate, refine,
human review). Every member runs through `stratum._runtime.call`. Private: the public door is
`stratum`.
"""
