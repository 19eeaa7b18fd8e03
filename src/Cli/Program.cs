using static TorchSharp.torch;
var a = randn(3, 4);
var b = randn(4, 2);
Console.WriteLine(matmul(a, b).sum().item<float>());
