package main

func bigShowBench(tmp string) {}
