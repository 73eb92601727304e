"""Our shards are WebDataset shards: the ``webdataset`` library reads a split written by
``ShardWriter`` (its stock ``rgb8`` decoder for 8-bit images, PIL for the 16-bit ones, as its docs
do for uint16 PNGs) and gets the same samples as ``tst.shards``."""

import io

import numpy as np
import webdataset as wds
from PIL import Image

from tests.tst.test_shards import _sample
from tst.shards import ShardWriter, encode_sample, iter_split, list_shards


def test_webdataset_reads_our_split_with_its_own_decoders(tmp_path):
    rng = np.random.default_rng(0)
    with ShardWriter(tmp_path, shard_size=2) as w:
        for i in range(5):
            w.write(f"{i:06d}", encode_sample(_sample(rng)))
    urls = [str(p) for p in list_shards(tmp_path)]
    assert len(urls) == 3
    ours = list(iter_split(tmp_path))
    uint16 = wds.handle_extension("depth.png semseg.png instance.png",
                                  lambda data: np.asarray(Image.open(io.BytesIO(data))))
    theirs = list(wds.WebDataset(urls, shardshuffle=False).decode(uint16, "rgb8"))
    assert [s["__key__"] for s in theirs] == [s["__key__"] for s in ours] == [f"{i:06d}" for i in range(5)]
    for a, b in zip(ours, theirs):
        assert set(b) - {"__key__", "__url__", "__local_path__"} == {
            "rgb.png", "depth.png", "normal.png", "semseg.png", "instance.png", "meta.json"}
        np.testing.assert_array_equal(b["rgb.png"], a["rgb"])
        # uint16 members: millimetres of depth, class and instance ids, read by PIL as 16-bit images
        np.testing.assert_array_equal(np.asarray(b["depth.png"]).astype(np.int64),
                                      np.round(a["depth"] * 1000).astype(np.int64))
        np.testing.assert_array_equal(np.asarray(b["semseg.png"]), a["semseg"])
        np.testing.assert_array_equal(np.asarray(b["instance.png"]), a["instance"])
        np.testing.assert_allclose(b["normal.png"] / 255.0 * 2 - 1, a["normal"], atol=1e-6)
        assert b["meta.json"] == a["meta"]
