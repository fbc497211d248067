import numpy as np
import pytest

from mgmtn.attributes import ATTRIBUTES
from pipeline.celeba import read_labels
from tests.celeba_fixture import make_celeba_folder


def test_labels_and_partition_are_parsed(tmp_path):
    root = make_celeba_folder(tmp_path / "d")
    lab = read_labels(str(root))
    assert lab.image_ids[0] == "000001.jpg" and len(lab.image_ids) == 12
    assert lab.labels.shape == (12, 40) and set(np.unique(lab.labels)) <= {0, 1}
    smiling = lab.labels[:, ATTRIBUTES.index("Smiling")]
    assert smiling.tolist() == [0, 1] * 6
    assert lab.partition.tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_not_a_celeba_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="CelebA-layout"):
        read_labels(str(tmp_path))


def test_real_celeba_labels_match_the_readme(celeba6k):
    lab = read_labels(str(celeba6k))
    assert len(lab.image_ids) == 5340
    assert (lab.partition == 0).sum() == 4560 and (lab.partition == 1).sum() == 780
