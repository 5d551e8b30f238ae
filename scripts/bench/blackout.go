package main

func blackoutBench(tmp string) {}
