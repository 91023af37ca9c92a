"""A training function that runs as many steps per call as it is told.

Keras' `steps_per_execution=N` runs N training steps in one call of
`model.train_function`, so callbacks only see every N-th step. A growth and
pruning flip (or a scoring window) due inside a call would land late, and
the FLOPs and step counts would be off. `make_train_steps(model)` returns a
function `(iterator, steps) -> (steps_run, logs)` whose step count is a
tensor: one trace, and one XLA compilation of the step, serve every count.
`GrowPruneCallback` calls it up to the next step at which the schedule acts,
flips, and finishes the execution with the next plan's function, so flips
land on the schedule's step and every batch of the execution still trains.

The step itself is the model's `train_step` run by its distribution
strategy, with the outputs reduced as Keras reduces them
(`keras_graph.reduce_step_outputs`), jit-compiled when the model is; the loop
around it is a `tf.while_loop` in a `tf.function`, as in Keras. As in Keras,
AutoGraph does not convert the step (nor `train_step` under it): converting
cost about 0.1-0.2 s of every trace, and each plan of a sparse phase is a
trace on the run's critical path. It stops early when the iterator runs
out, and `steps_run` says how many steps ran (0 when the iterator was
already exhausted), so a count never includes a step that did not train.
"""

import tensorflow as tf

from agp_tf import keras_graph


def make_one_step(model, jit_compile=None):
    """The model's one training step on a batch (traced and jit-compiled as
    Keras' own; `jit_compile` None: as the model is compiled)."""
    strategy = model.distribute_strategy
    if jit_compile is None:
        jit_compile = model.jit_compile

    def one_step_on_data(data):
        outputs = strategy.run(model.train_step, args=(data,))
        return keras_graph.reduce_step_outputs(outputs, strategy)

    if model.run_eagerly:
        return one_step_on_data
    return tf.function(
        one_step_on_data, reduce_retracing=True, jit_compile=jit_compile, autograph=False
    )


def make_train_steps(model, jit_compile=None):
    """`(iterator, steps) -> (steps_run, logs)`: up to `steps` training steps from `iterator`.

    Args:
        model: A compiled Keras model (TensorFlow backend).
        jit_compile: Whether the step is XLA-compiled; None: as the model is.

    Returns:
        A function of a `tf.data` or distributed iterator and a step count
        (int, or int32 tensor, >= 1). It returns the number of steps that
        ran, as a Python int, and the logs of the last one (the model's
        metrics, as `model.train_function` returns them), or None when no
        step ran.
    """
    one_step = make_one_step(model, jit_compile)

    def run_steps(iterator, steps):
        # Logs start as zeros of the step's output structure (the trace the
        # loop calls), so the loop carries plain tensors.
        outputs = one_step.get_concrete_function(iterator.element_spec).structured_outputs
        no_logs = tf.nest.map_structure(lambda t: tf.zeros(t.shape, t.dtype), outputs)

        def more(done, steps, batch, logs):
            return tf.logical_and(done < steps, batch.has_value())

        def step(done, steps, batch, logs):
            logs = one_step(batch.get_value())
            done = done + 1
            # The next batch is fetched only if it will be trained on. (As in
            # Keras, the optional batch is a loop variable, and no int32 is
            # captured by a branch: under MirroredStrategy that fails with
            # "must feed a value for placeholder".)
            batch = tf.cond(done < steps, iterator.get_next_as_optional, lambda: batch)
            return done, steps, batch, logs

        done, _, _, logs = tf.while_loop(
            more, step, (tf.constant(0), steps, iterator.get_next_as_optional(), no_logs)
        )
        return done, logs

    def run_steps_eagerly(iterator, steps):
        done, logs = 0, None
        while done < steps:
            batch = iterator.get_next_as_optional()
            if not batch.has_value():
                break
            logs = one_step(batch.get_value())
            done += 1
        return done, logs

    if model.run_eagerly:
        run_steps = run_steps_eagerly
    else:
        # The loop is written with tf.while_loop and tf.cond: nothing to convert.
        run_steps = tf.function(run_steps, reduce_retracing=True, autograph=False)

    def train_steps(iterator, steps):
        if int(steps) < 1:
            raise ValueError(f"`steps` must be >= 1, got {int(steps)}")
        done, logs = run_steps(iterator, tf.constant(int(steps), tf.int32))
        done = int(done)
        return done, (logs if done else None)

    train_steps.one_step = one_step  # for tests: one trace serves every count
    train_steps.run_steps = run_steps
    return train_steps
