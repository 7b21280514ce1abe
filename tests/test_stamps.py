"""engine/stamps.py: an output that does not embed its planned key gets a stamp newer than itself
(Snakemake reruns it); one that does gets an old stamp (never a reason to rerun)."""
import os

from engine.stamps import OLD, mark, recorded_key, stamp


def test_stamp_follows_the_key_the_output_embeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "t.md"
    key, other = "0123456789abcdef", "fedcba9876543210"
    s = stamp("smoke", "t", key, out)                    # missing output: a new stamp
    assert open(s).read() == key and os.path.getmtime(s) > OLD
    out.write_text(f"<!-- generated; {mark(key)} -->\n| a |\n")
    assert recorded_key(out) == key
    stamp("smoke", "t", key, out)                        # fresh output: the stamp is made old
    assert os.path.getmtime(s) == OLD
    out.write_text(f"<!-- generated; {mark(other)} -->\n")
    stamp("smoke", "t", key, out)                        # stale output: newer stamp, same key
    assert open(s).read() == key and os.path.getmtime(s) > OLD
    stamp("smoke", "t", other, out)                      # the plan moved to what the output shows
    assert open(s).read() == other and os.path.getmtime(s) == OLD
    png = tmp_path / "f.png"
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure()
    fig.savefig(png, format="png", metadata={"Comment": mark(key)})
    plt.close(fig)
    assert recorded_key(png) == key
