"""Training: the plan (options, engine choice, iteration counts), the checkpointed state, the
two engines, batches, early stopping, and the loop (:func:`dlcli.training.loop.train`).

Kept empty of imports: ``dlcli.training.state`` is read without loading the loop.
"""
