"""The text family's sample grid: prompts with the SFT model's and the tuned policy's answers,
as a PNG table (the report shows every generative family's samples)."""
from __future__ import annotations

from pathlib import Path


def save_answer_grid(answers: list[tuple[str, str, str]], correct: list[tuple[bool, bool]], path: Path,
                     rows: int = 12) -> None:
    """answers: (prompt, policy answer, SFT answer); correct: (policy, SFT) per answer. Wrong answers in red."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = answers[:rows]
    fig, ax = plt.subplots(figsize=(10, 0.32 * (len(shown) + 1.5)))
    ax.axis("off")
    table = ax.table(cellText=[[p, a, b] for p, a, b in shown], colLabels=["prompt", "tuned policy", "SFT model"],
                     colWidths=[0.14, 0.43, 0.43], loc="upper center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for i, (ok_policy, ok_sft) in enumerate(correct[:rows], start=1):
        for col, ok in ((1, ok_policy), (2, ok_sft)):
            table[i, col].get_text().set_color("black" if ok else "tab:red")
            table[i, col].get_text().set_family("monospace")
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
