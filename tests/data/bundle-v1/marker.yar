// The rule behind the bundle-v1 fixture: it matches a harmless marker text
// (written here in hex so this file does not match itself), so the fixture
// holds a real detection without any malware, test file or EICAR in it.
rule kensa_fixture_marker
{
    meta:
        description = "Harmless marker of the kensa bundle-v1 test fixture"
    strings:
        // "kensa-bundle-v1-fixture-marker"
        $m = { 6b 65 6e 73 61 2d 62 75 6e 64 6c 65 2d 76 31 2d 66 69 78 74 75 72 65 2d 6d 61 72 6b 65 72 }
    condition:
        $m
}
