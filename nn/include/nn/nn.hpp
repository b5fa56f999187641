#pragma once
// The network module, namespace ag::nn: everything below with one include.
//   scalar.hpp         Neuron, Layer, MLP on ag::Value (micrograd-style)
//   tensor_models.hpp  Linear, Sequential, TensorMLP on ag::Tensor / ag::Tensor32
//   init.hpp           Activation, Init (uniform, Xavier, He)
//   losses.hpp         mse, ½(d − y)², cross-entropy, binary cross-entropy, hinge (+ L2)
//   optim.hpp          SGD, Adam, StepLR, CosineLR
//   trainer.hpp        Trainer: mini-batches, epochs, validation, history, progress
//   data.hpp           CSV (and .csv.gz), standardization, stratified split, synthetic sets
//   serialize.hpp      save / load
//   checkpoint.hpp     save_checkpoint / load_checkpoint: model, optimizer state, epochs done
//   distributed.hpp    data-parallel training across processes (MPI: nn/mpi.hpp, tapegrad::nn_mpi)
#include <autograd/autograd.hpp>
#include <nn/checkpoint.hpp>
#include <nn/data.hpp>
#include <nn/distributed.hpp>
#include <nn/init.hpp>
#include <nn/losses.hpp>
#include <nn/optim.hpp>
#include <nn/parameters.hpp>
#include <nn/scalar.hpp>
#include <nn/serialize.hpp>
#include <nn/tensor_models.hpp>
#include <nn/trainer.hpp>
