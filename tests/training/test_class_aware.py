"""The class-aware sampler of Kang et al.'s cRT (classifier-balancing, data/ClassAwareSampler.py): classes in
shuffled cycles, each visit taking ``per_class`` consecutive images from that class's own shuffled cycle."""

import numpy as np
import pytest
import torch

from balancelab.errors import ConfigError
from balancelab.training.class_aware import ClassAwareSampler

LABELS = np.array([0] * 50 + [1] * 10 + [2] * 3)


def sampler(seed=0, labels=LABELS, per_class=4):
    return ClassAwareSampler(labels, per_class=per_class, generator=torch.Generator().manual_seed(seed))


def test_visits_take_four_images_of_one_class_and_every_class_once_per_cycle():
    order = sampler().take(4 * 3 * 10).numpy()  # ten cycles over the three classes
    groups = LABELS[order].reshape(-1, 4)
    assert (groups == groups[:, :1]).all()
    cycles = groups[:, 0].reshape(-1, 3)
    assert all(sorted(cycle) == [0, 1, 2] for cycle in cycles)
    assert len({tuple(cycle) for cycle in cycles}) > 1  # the class order is reshuffled, not fixed


def test_a_class_is_drawn_without_replacement_until_all_its_images_were_used():
    order = sampler().take(4 * 3 * 10).numpy()
    rare = order[LABELS[order] == 2]  # 40 draws from three images: complete passes, then a partial one
    for start in range(0, 39, 3):
        assert sorted(rare[start:start + 3]) == [60, 61, 62]
    frequent = order[LABELS[order] == 0]
    assert len(set(frequent)) == len(frequent) == 40  # 40 of its 50 images: no repeat yet


def test_the_cycles_continue_across_epochs_and_a_seed_reproduces_them():
    a = sampler(seed=3)
    first, second = a.take(13), a.take(27)
    whole = sampler(seed=3).take(40)
    assert torch.equal(torch.cat([first, second]), whole)
    assert not torch.equal(sampler(seed=4).take(40), whole)


def test_classes_without_images_are_not_visited():
    labels = np.array([0, 0, 2, 2, 2])  # class 1 has none
    order = sampler(labels=labels, per_class=1).take(20).numpy()
    assert set(labels[order]) == {0, 2}


@pytest.mark.parametrize("labels, per_class, message", [(np.array([], dtype=np.int64), 4, "no training images"),
                                                         (LABELS, 0, "per_class must be an integer >= 1")])
def test_bad_input_is_refused(labels, per_class, message):
    with pytest.raises(ConfigError, match=message):
        sampler(labels=labels, per_class=per_class)
