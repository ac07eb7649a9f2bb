"""The shared core every workflow builds on: who may do what (policy), the chain of custody and its
transparency log, row locks, state tables, IDs, pages, privacy checks, numbers and times,
settings, uploads, samples, sites, the catalogue, and the people: accounts, electronic
signatures and the throttle on wrong passwords. It imports none of the workflow packages."""
