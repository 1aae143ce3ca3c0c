"""Writes digits.csv from the copy of the UCI handwritten digits that
scikit-learn ships inside its PyPI package (no download):

    pip install scikit-learn
    python3 examples/data/export_digits.py

One image a line: the label (0-9), then the 64 pixels of the 8x8 image in
row-major order, each an integer from 0 to 16.
"""

import os

from sklearn.datasets import load_digits

digits = load_digits()
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.csv")
with open(out, "w") as f:
    for label, image in zip(digits.target, digits.data.astype(int)):
        f.write(",".join(str(v) for v in [label, *image]) + "\n")
print(f"wrote {len(digits.target)} images to {out}")
