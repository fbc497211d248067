"""Actor pool layout: threads never exceed a node, and by default every CPU gets one detector thread."""

from pipeline.runtime import threaded_pool


def test_one_thread_per_actor_gives_one_actor_per_cpu():
    assert threaded_pool(0, 1, 1.0, [2.0]) == (2, 1)
    assert threaded_pool(0, 1, 1.0, [8.0, 4.0]) == (12, 1)


def test_threads_share_an_actor_and_fit_the_largest_node():
    assert threaded_pool(0, 4, 1.0, [2.0]) == (1, 2)  # a 2-CPU machine: one actor, two threads
    assert threaded_pool(0, 4, 1.0, [16.0]) == (4, 4)
    assert threaded_pool(0, 4, 1.0, [16.0, 2.0]) == (4, 4)  # 4-thread actors don't fit the 2-CPU node


def test_requested_actors_win_and_there_is_always_one():
    assert threaded_pool(3, 2, 1.0, [8.0]) == (3, 2)
    assert threaded_pool(0, 1, 1.0, []) == (1, 1)
    assert threaded_pool(0, 2, 0.75, [2.0]) == (1, 2)
