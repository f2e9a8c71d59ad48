"""Run folders named in comparison tables: unique even when two runs share a folder name."""

from benchmark.reports.rundir import run_names


def test_a_unique_folder_name_is_used_alone(tmp_path):
    assert run_names([tmp_path / "x" / "emodb-1", tmp_path / "x" / "emodb-2"]) == ["emodb-1", "emodb-2"]


def test_runs_of_the_same_second_in_different_out_folders_get_their_parent(tmp_path):
    names = run_names([tmp_path / "a" / "emodb-1", tmp_path / "b" / "emodb-1", tmp_path / "a" / "emodb-2"])
    assert names == ["a/emodb-1", "b/emodb-1", "emodb-2"]
    assert len(set(names)) == 3


def test_deeper_collisions_take_as_many_parents_as_needed(tmp_path):
    names = run_names([tmp_path / "p" / "out" / "r", tmp_path / "q" / "out" / "r"])
    assert names == ["p/out/r", "q/out/r"]
