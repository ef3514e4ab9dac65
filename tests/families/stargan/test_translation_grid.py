"""Translation grids: enlarged as the training grids are, under a header row that names each column."""
import numpy as np
import pytest
import torch

from gankit.data.attr_digits import info_for
from gankit.data.image_io import make_grid
from gankit.families.stargan.translation import column_labels
from gankit.viz import column_header, samples_image


def ink_runs(header: np.ndarray, gap: int = 8) -> list[tuple[int, int]]:
    """[first, last] x of each cluster of dark pixels in a header (letters and the spaces between words closer than
    `gap` px belong to one cluster)."""
    xs = np.flatnonzero((header.min(axis=2) < 128).any(axis=0))
    runs: list[list[int]] = []
    for x in xs:
        if runs and x - runs[-1][1] < gap:
            runs[-1][1] = x
        else:
            runs.append([x, x])
    return [tuple(r) for r in runs]


def split_header(image: np.ndarray, rows: int, columns: int, size: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(header, grid) of a labelled grid of rows x columns `size` px images enlarged `factor` times, 2 px padding."""
    grid_height, grid_width = (rows * (size + 2) + 2) * factor, (columns * (size + 2) + 2) * factor
    assert image.shape[1] == grid_width and image.shape[0] > grid_height
    return image[:-grid_height], image[-grid_height:]


def assert_labelled(header: np.ndarray, columns: int, size: int, factor: int) -> None:
    """The header is not blank and holds one label per column, each within its column."""
    runs = ink_runs(header)
    assert len(runs) == columns
    for j, (first, last) in enumerate(runs):
        left = (2 + j * (size + 2)) * factor
        assert left - 2 * factor <= first and last < left + (size + 2) * factor


def test_grid_is_enlarged_under_a_header_naming_each_column():
    samples = torch.rand(2 * 3, 3, 16, 16) * 2 - 1
    labels = ["input", "+red", "flip thick"]
    image = samples_image(samples, nrow=3, columns=labels)
    header, grid = split_header(image, 2, 3, 16, 4)  # 16 px: 4x, as the training grids
    expected = make_grid(samples, 3)
    assert np.array_equal(grid, expected.repeat(4, axis=0).repeat(4, axis=1))  # nearest neighbour, below the header
    assert 8 <= header.shape[0] <= 24  # one line of the default font
    assert_labelled(header, 3, 16, 4)
    assert np.array_equal(samples_image(samples, nrow=3), grid)  # no labels: the training grid as before


def test_small_grey_and_large_images():
    grey = samples_image(torch.zeros(4, 1, 8, 8), nrow=4, columns=["input", "a", "b", "c"])
    assert grey.shape[2] == 1  # the header has the grid's channels
    header, _ = split_header(grey, 1, 4, 8, 8)  # 8 px: 8x
    assert_labelled(header, 4, 8, 8)
    large = samples_image(torch.zeros(2, 3, 64, 64), nrow=2, columns=["input", "+Blond_Hair"])
    header, _ = split_header(large, 1, 2, 64, 1)  # 64 px: shown as is
    assert_labelled(header, 2, 64, 1)


def test_long_labels_wrap_and_are_cut_within_their_column():
    one_line = column_header(["input", "x"], 16, 3)
    wrapped = column_header(["input", "Black_Hair,Male,Young"], 16, 3)
    cut = column_header(["input", "averyveryverylongattributename"], 16, 3)
    assert wrapped.shape[1] == one_line.shape[1] == (2 * 18 + 2) * 4
    assert wrapped.shape[0] > one_line.shape[0] == cut.shape[0]  # commas break lines; one long word is cut instead
    assert_labelled(wrapped, 2, 16, 4)
    assert_labelled(cut, 2, 16, 4)


def test_labels_must_match_the_columns():
    with pytest.raises(ValueError, match="2 column labels for a grid of 3 columns"):
        samples_image(torch.zeros(3, 3, 16, 16), nrow=3, columns=["input", "+red"])


def test_column_labels_name_targets_and_domains():
    info = info_for(16)  # red, green, blue (exclusive), inverted, thick, rotated
    assert column_labels(info, None, ["green, thick", ""]) == ["input", "green, thick", "none"]
    c_org = torch.tensor([[1.0, 0, 0, 0, 1, 1], [0, 1.0, 0, 0, 0, 1]])
    # the ink colour is switched on; inverted is off in both inputs, thick in one of them, rotated in both
    assert column_labels(info, c_org) == ["input", "+red", "+green", "+blue", "+inverted", "flip thick", "-rotated"]
