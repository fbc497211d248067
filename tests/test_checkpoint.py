import os
import pickle

import numpy as np
import pytest
import torch

from mgmtn.checkpoint import CheckpointError, checkpoint_id, load_checkpoint, save_checkpoint
from mgmtn.model import create_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CFG = {"model": {"backbone": "resnet10", "width": 8, "fusion_dim": 16, "decoder_dim": 16, "masks": "predicted"}}


def meta(cfg=CFG, size=64):
    return {
        "config": cfg,
        "input_size": size,
        "mean": (0.485, 0.456, 0.406),
        "metrics": {"acc": np.float32(0.5)},
    }


def tiny_model():
    torch.manual_seed(0)
    model = create_model(CFG["model"], 64)
    model.train()(torch.randn(4, 3, 64, 64))  # move the BN running stats off their defaults
    return model.eval()


def test_round_trip_gives_identical_outputs(tmp_path):
    model = tiny_model()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, meta())
    assert os.listdir(path.parent) == ["m.pt"]  # no temp file left behind
    loaded, m = load_checkpoint(path)
    assert not loaded.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)["logits"], loaded(x)["logits"])
        assert torch.equal(model(x)["mask_logits"], loaded(x)["mask_logits"])
    assert m["mean"] == [0.485, 0.456, 0.406] and m["metrics"]["acc"] == 0.5 and type(m["metrics"]["acc"]) is float
    assert m["config"] == CFG


def test_checkpoint_id(tmp_path):
    a = save_checkpoint(tmp_path / "a.pt", tiny_model(), meta())
    b = save_checkpoint(tmp_path / "b.pt", tiny_model(), {**meta(), "note": "other"})
    assert len(checkpoint_id(a)) == 12 and checkpoint_id(a) == checkpoint_id(a) != checkpoint_id(b)


def test_meta_must_be_plain(tmp_path):
    with pytest.raises(TypeError, match="meta.bad"):
        save_checkpoint(tmp_path / "m.pt", tiny_model(), {**meta(), "bad": object()})
    with pytest.raises(ValueError, match="input_size"):
        save_checkpoint(tmp_path / "m.pt", tiny_model(), {"config": CFG})


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_code_executing_pickle_is_refused_and_never_runs(tmp_path, how):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"format": "mgmtn-checkpoint", "version": 1, "meta": Evil(marker), "state_dict": {}}
    if how == "pickle":
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not a loadable safe"):
        load_checkpoint(path)
    assert not marker.exists()
    # Control: the payload is live; an unsafe load would have run it (a harmless touch in tmp_path).
    if how == "pickle":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)
    assert marker.exists()


def test_bad_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "noise.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "noise.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an mgmtn-checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    assert issubclass(CheckpointError, ValueError)


def test_state_dict_not_matching_config_is_refused(tmp_path):
    wider = {"model": {**CFG["model"], "width": 16}}
    path = save_checkpoint(tmp_path / "m.pt", tiny_model(), meta(cfg=wider))
    with pytest.raises(CheckpointError, match="do not match"):
        load_checkpoint(path)


def test_default_model_checkpoint_is_small(tmp_path):
    cfg = {"model": {"backbone": "resnet18", "width": 32, "masks": "predicted", "fusion_dim": 128}}
    path = save_checkpoint(tmp_path / "d.pt", create_model(cfg["model"], 112), meta(cfg, 112))
    assert path.stat().st_size < 30e6
