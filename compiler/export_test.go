package compiler

// ReservedWordsProfile lets the kernel test (package compiler_test) apply
// the profile TestReservedWordsAsNames compiles.
var ReservedWordsProfile = reservedWordsProfile
