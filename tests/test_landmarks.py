import numpy as np
import pytest

from islr import landmarks as L


def test_part_layout_covers_543_rows():
    rows = np.concatenate([np.arange(s, s + n) for _, s, n in L.PARTS])
    assert (rows == np.arange(L.N_LANDMARKS)).all()


def test_cnn_points_are_the_reference_columns():
    assert L.CNN_POINTS.shape == (80,) and len(set(L.CNN_POINTS)) == 80
    assert list(L.CNN_POINTS[:3]) == [291, 37, 40]
    assert list(L.CNN_POINTS[39:44]) == [489, 490, 492, 493, 494]
    assert list(L.CNN_POINTS[58:60]) == [512, 522]
    assert (L.CNN_AUG_POINTS[:80] == L.CNN_POINTS).all()
    # the twins the CNN flip needs: lips 61, 78, 146 and pose 2, 6, 24
    assert sorted(L.CNN_AUG_POINTS[80:]) == sorted([61, 78, 146, L.pose_id(2), L.pose_id(6), L.pose_id(24)])


@pytest.mark.parametrize("points, perm", [(L.CNN_AUG_POINTS, L.CNN_AUG_FLIP),
                                          (L.TRANSFORMER_POINTS, L.TRANSFORMER_FLIP)])
def test_flip_maps_are_involutions_to_twins(points, perm):
    assert (perm[perm] == np.arange(len(points))).all()
    for i, j in enumerate(perm):
        assert L.MIRROR[int(points[i])] == int(points[j])


def test_mirror_pairs_are_left_right_twins():
    assert L.MIRROR[468] == 522 and L.MIRROR[488] == 542
    assert L.MIRROR[L.pose_id(3)] == L.pose_id(6)  # left eye outer <-> right eye outer (reference paired 3 with 5)
    assert L.MIRROR[L.pose_id(23)] == L.pose_id(24)  # hips swap (reference left 23 alone)
    assert L.MIRROR[267] == 37 and L.MIRROR[375] == 146 and L.MIRROR[0] == 0
    assert all(L.MIRROR[L.MIRROR[k]] == k for k in L.MIRROR)


def test_mirror_permutation_rejects_open_sets():
    with pytest.raises(ValueError, match="twin"):
        L.mirror_permutation(L.CNN_POINTS)
    with pytest.raises(ValueError, match="no mirror twin"):
        L.mirror_closure([5])  # a face-mesh point outside the lips


def test_finger_trees():
    assert len(L.FINGER_TREES) == 20
    assert L.FINGER_TREES[0] == (0, (1, 2, 3, 4)) and L.FINGER_TREES[3] == (3, (4,))
    assert len(L.HAND_BONES) == 20


def test_feature_index_lists():
    assert L.LIP.shape == (40,) and len(set(L.LIP)) == 40
    assert L.LIP_ANGLES.max() < 40 and L.HAND_ANGLES.max() <= 20
    # docs/method.md §2.6: the lip angle triples as landmark ids
    assert tuple(L.LIP[L.LIP_ANGLES[0]]) == (0, 312, 40) and tuple(L.LIP[L.LIP_ANGLES[4]]) == (61, 88, 185)
